package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
)

// MaxSeq is the highest sequence the store assigns: 2^53, the last integer a Redis sorted-set score
// (a float64) holds exactly. Append returns ErrSeqOverflow rather than pass it. At a million
// revocations a second it is reached after 285 years.
const MaxSeq = 1 << 53

// Defaults of the options.
const (
	// DefaultPrefix is the key prefix: keys are "{revocast}:seq", "{revocast}:log" and "{revocast}:exp".
	DefaultPrefix = "revocast"
	// DefaultBatchSize is the number of entries Snapshot reads per page and passes to fn per call.
	DefaultBatchSize = 10_000
	// appendSweep is how many expired entries one Append removes at most.
	appendSweep = 100
	// sweepBatch is how many expired entries one Sweep script removes at most.
	sweepBatch = 1000
)

// memberHead is how events' AppendJSON starts every encoding; the append script inserts the
// sequence right after it, where AppendJSON puts a non-zero Seq.
const memberHead = `{"v":1`

// Store is the durable revocation log in Redis. Create it with New; it is safe for concurrent use by
// any number of goroutines and processes sharing the Redis keys.
type Store struct {
	client    redis.UniversalClient
	keySeq    string
	keyLog    string
	keyExp    string
	now       func() time.Time
	batchSize int
	onError   func(error)
	corrupt   atomic.Uint64
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the key prefix. Every key is wrapped in the hash tag "{prefix}" so that the three
// keys live in one Redis Cluster slot and the Lua scripts may touch them together. An empty prefix
// keeps the default, DefaultPrefix ("revocast").
func WithPrefix(prefix string) Option {
	return func(s *Store) {
		if prefix != "" {
			s.setPrefix(prefix)
		}
	}
}

// WithClock sets the clock the store reads now from, for the liveness filter of Snapshot and After
// and for the removal of expired entries inside Append. Defaults to time.Now; nil keeps the default.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithBatchSize sets how many entries Snapshot reads per Redis round trip and passes to its callback
// at most per call. Defaults to DefaultBatchSize (10,000); n < 1 keeps the default.
func WithBatchSize(n int) Option {
	return func(s *Store) {
		if n >= 1 {
			s.batchSize = n
		}
	}
}

// WithErrorHandler sets the function called, from the goroutine that called Snapshot or After, for
// every stored entry that does not decode. The error wraps ErrCorrupt and names the entry's
// sequence (never its content). The entry is skipped and counted (see Corrupt). Defaults to
// ignoring the error (it is still counted); nil keeps the default.
func WithErrorHandler(fn func(error)) Option {
	return func(s *Store) {
		if fn != nil {
			s.onError = fn
		}
	}
}

// New returns a Store that keeps its log in Redis through client. The Store never closes client:
// whoever created it closes it, after the last call on the Store has returned. New does no I/O.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{
		client:    client,
		now:       time.Now,
		batchSize: DefaultBatchSize,
		onError:   func(error) {},
	}
	s.setPrefix(DefaultPrefix)
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) setPrefix(p string) {
	tag := "{" + p + "}"
	s.keySeq, s.keyLog, s.keyExp = tag+":seq", tag+":log", tag+":exp"
}

// Corrupt returns how many undecodable entries Snapshot and After have skipped since New (an entry
// read twice counts twice).
func (s *Store) Corrupt() uint64 { return s.corrupt.Load() }

// Append durably appends recs in order, assigning each the next sequence number of the one counter
// shared by every writer; on success recs[i].Seq is set (any Seq passed in is ignored). Each record
// is validated first (ErrInvalid); the write is one Lua script, so either every record is appended
// or none is. Append returns after Redis acknowledged the script, which is durable as far as Redis
// is configured to be: with AOF and appendfsync always, an acknowledged append survives kill -9.
//
// A record identical to one already in the log (a retry after a timeout whose outcome was unknown)
// is stored again under its new sequence; revocations are idempotent, so that is
// harmless. Append also removes up to 100 entries whose DropAfter is before now (the store's
// clock), so an unattended log stays bounded. Append with no records does nothing.
func (s *Store) Append(ctx context.Context, recs []events.Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	args := make([]any, 3, 3+2*len(recs))
	args[0] = strconv.FormatInt(removeBefore(s.now()), 10)
	args[1] = appendSweep
	args[2] = strconv.FormatUint(MaxSeq, 10)
	buf := make([]byte, 0, 192*len(recs))
	ends := make([]int, len(recs))
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrInvalid, i, err)
		}
		r := recs[i]
		r.Seq = 0 // the sequence is the score, not part of the member
		start := len(buf)
		buf = r.AppendJSON(buf)
		if len(buf)-start > events.MaxSize {
			return fmt.Errorf("%w: record %d: %w", ErrInvalid, i, events.ErrTooLarge)
		}
		ends[i] = len(buf)
	}
	members := string(buf) // one allocation; each member is a substring
	start := 0
	for i := range recs {
		m := members[start:ends[i]]
		if !strings.HasPrefix(m, memberHead) {
			return fmt.Errorf("%w: events encoding does not start with %s", ErrReply, memberHead)
		}
		args = append(args, m[len(memberHead):], dropScore(recs[i].DropAfter))
		start = ends[i]
	}
	res, err := appendScript.Run(ctx, s.client, []string{s.keySeq, s.keyLog, s.keyExp}, args...).Int64Slice()
	if err != nil {
		if strings.Contains(err.Error(), "REVOCAST_OVERFLOW") {
			return ErrSeqOverflow
		}
		return fmt.Errorf("redisstore: append: %w", err)
	}
	if len(res) != 3 || res[0] < int64(len(recs)) {
		return fmt.Errorf("%w: append returned %v", ErrReply, res)
	}
	first := uint64(res[0]) - uint64(len(recs)) + 1
	for i := range recs {
		recs[i].Seq = first + uint64(i)
	}
	return nil
}

// Head returns the highest sequence assigned so far, 0 for an empty log. Expiry never lowers it.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	v, err := s.client.Get(ctx, s.keySeq).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: head: %w", err)
	}
	return parseSeq(v)
}

// Sweep removes every entry whose DropAfter is before now, at millisecond resolution rounded to the
// safe side (an entry is removed once its DropAfter, rounded up to a millisecond, is before now
// rounded down to one), so it never removes an entry still live at now. It works in steps of 1000
// entries, each one atomic, and returns how many it removed, also when it stops on an error.
func (s *Store) Sweep(ctx context.Context, now time.Time) (removed int, err error) {
	before := strconv.FormatInt(removeBefore(now), 10)
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		n, err := sweepScript.Run(ctx, s.client, []string{s.keyLog, s.keyExp}, before, sweepBatch).Int()
		if err != nil {
			return removed, fmt.Errorf("redisstore: sweep: %w", err)
		}
		removed += n
		if n < sweepBatch {
			return removed, nil
		}
	}
}

// dropScore is the expiry score of an entry: its DropAfter in unix milliseconds, rounded up.
func dropScore(t time.Time) string {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return strconv.FormatInt(ms, 10)
}

// removeBefore is the exclusive bound of expiry scores that may be removed at now: now in unix
// milliseconds, rounded down. A score below it belongs to an entry whose DropAfter is before now.
func removeBefore(now time.Time) int64 {
	ms := now.UnixMilli()
	if now.Sub(time.UnixMilli(ms)) < 0 {
		ms--
	}
	return ms
}

// parseSeq parses a sequence as Redis prints it (a counter, or a score of an integer value).
func parseSeq(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f < 0 || f > MaxSeq || f != float64(uint64(f)) {
			return 0, fmt.Errorf("%w: sequence %.40q", ErrReply, v)
		}
		return uint64(f), nil
	}
	return n, nil
}
