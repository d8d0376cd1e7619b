// Package jsstore is revocast's durable revocation log on NATS JetStream: the embedded default of
// `revocast dev` (an embedded nats-server with file storage, nothing else to install) and an
// alternative to Redis in production. It satisfies the same contract as store/redisstore and passes
// the same conformance suite (store/storetest).
//
// # Layout
//
// One stream (WithStream, default "REVOCAST") on one subject (WithSubject, default
// "revocast.store.log", deliberately outside the broadcast prefix "revocast.v1.>" that subscribers
// listen on). Each message is one revocation, encoded by events' AppendJSON without its Seq: the
// sequence is the stream sequence, which JetStream assigns densely across every writer.
//
// # Writes
//
// Append of one record is a JetStream publish acknowledged by the stream (durable per the stream's
// replicas and storage). Append of several is an atomic batch (nats-server 2.12+: headers
// Nats-Batch-Id / Nats-Batch-Sequence / Nats-Batch-Commit): all or none, on consecutive sequences.
// A batch holds at most 1,000 records (the server's default limit); a longer Append is several
// batches, each atomic, in order: on error, the records of the batches acknowledged before it are
// durable (their Seq is set) and none after.
//
// # Expiry
//
// Every message carries a per-message TTL (Nats-TTL, the stream allows it) of its DropAfter minus
// now plus a second, so the server removes it after it can no longer matter; the stream's MaxAge
// (WithMaxAge, default none) is an optional outer bound, and Append refuses an entry whose DropAfter
// lies beyond now + MaxAge rather than let the server drop it early. Sweep also removes expired entries
// by the store's clock (scanning the stream), and Append deletes up to 100 expired entries that this
// Store appended, so the log stays bounded by the injected clock too. Reads skip entries whose
// DropAfter has passed.
//
// # Ownership
//
// A Store is safe for concurrent use and never closes the NATS connection it is given.
package jsstore

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/revocast/revocast/events"
)

// Errors of the store.
var (
	ErrInvalid   = errors.New("jsstore: invalid revocation")
	ErrRetention = errors.New("jsstore: DropAfter beyond the stream's retention (WithMaxAge)")
	ErrReply     = errors.New("jsstore: unexpected reply from JetStream")
)

const (
	maxBatch    = 1000
	appendSweep = 100
)

// Option configures a Store.
type Option func(*options) error

type options struct {
	stream, subject string
	replicas        int
	maxAge          time.Duration
	clock           func() time.Time
	batch           int
	onError         func(error)
}

// WithStream sets the stream name. Defaults to "REVOCAST".
func WithStream(name string) Option { return func(o *options) error { o.stream = name; return nil } }

// WithSubject sets the subject of the log's messages. Defaults to "revocast.store.log".
func WithSubject(s string) Option { return func(o *options) error { o.subject = s; return nil } }

// WithReplicas sets the stream's replicas (1, or 3 in a cluster). Defaults to 1.
func WithReplicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("jsstore: replicas must be 1 to 5")
		}
		o.replicas = n
		return nil
	}
}

// WithMaxAge sets the stream's retention bound: Append then refuses an entry whose DropAfter is
// beyond now + d (ErrRetention) rather than let the stream drop it early. Defaults to none: the
// per-message TTLs alone expire entries.
func WithMaxAge(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Minute {
			return fmt.Errorf("jsstore: max age below a minute")
		}
		o.maxAge = d
		return nil
	}
}

// WithClock sets the clock of expiry. Defaults to time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.clock = now; return nil }
}

// WithBatchSize sets how many entries a read fetches at once. Defaults to 10,000.
func WithBatchSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("jsstore: batch size must be positive")
		}
		o.batch = n
		return nil
	}
}

// WithErrorHandler receives entries skipped because they do not decode. Defaults to none.
func WithErrorHandler(f func(error)) Option {
	return func(o *options) error { o.onError = f; return nil }
}

// Store is the revocation log in a JetStream stream.
type Store struct {
	o      options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	mu      sync.Mutex
	expires expiryHeap // entries this Store appended, by DropAfter
}

// New creates or updates the stream and returns the Store.
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Store, error) {
	o := options{stream: "REVOCAST", subject: "revocast.store.log", replicas: 1,
		clock: time.Now, batch: 10_000, onError: func(error) {}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jsstore: %w", err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:               o.stream,
		Subjects:           []string{o.subject},
		Storage:            jetstream.FileStorage,
		Replicas:           o.replicas,
		MaxAge:             o.maxAge,
		AllowMsgTTL:        true,
		AllowAtomicPublish: true,
		Duplicates:         2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: stream %s: %w", o.stream, err)
	}
	if err := waitLeader(ctx, stream); err != nil {
		return nil, err
	}
	return &Store{o: o, nc: nc, js: js, stream: stream}, nil
}

// waitLeader waits until a replicated stream has elected a leader (a new R3 stream answers nothing
// until then), at most 10s.
func waitLeader(ctx context.Context, stream jetstream.Stream) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := stream.Info(ctx)
		if err == nil && (info.Cluster == nil || info.Cluster.Leader != "") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jsstore: the stream has no leader after 10s (is the cluster up?): %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Append durably appends recs in order with dense sequence numbers (recs[i].Seq is set), in atomic
// batches of up to 1,000.
func (s *Store) Append(ctx context.Context, recs []events.Revocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.o.clock()
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrInvalid, i, err)
		}
		if s.o.maxAge > 0 && recs[i].DropAfter.After(now.Add(s.o.maxAge)) {
			return fmt.Errorf("%w: record %d", ErrRetention, i)
		}
	}
	for start := 0; start < len(recs); start += maxBatch {
		chunk := recs[start:min(start+maxBatch, len(recs))]
		// A publish that found no responder, or a batch the stream saw only part of, stored
		// nothing: retry it for a moment (a stream leader moving, interest still propagating
		// through a cluster).
		deadline := time.Now().Add(10 * time.Second)
		for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
			err := s.appendBatch(ctx, chunk, now)
			if err == nil {
				break
			}
			if !errors.Is(err, errNothingStored) || time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	s.expireSome(ctx, now)
	return nil
}

func (s *Store) message(r *events.Revocation, now time.Time) *nats.Msg {
	rec := *r
	rec.Seq = 0
	m := nats.NewMsg(s.o.subject)
	m.Data = rec.AppendJSON(nil)
	ttl := max(r.DropAfter.Sub(now), 0) + time.Second
	m.Header.Set("Nats-TTL", strconv.FormatInt(int64(ttl/time.Second)+1, 10)+"s")
	return m
}

func (s *Store) appendBatch(ctx context.Context, recs []events.Revocation, now time.Time) error {
	var last uint64
	if len(recs) == 1 {
		ack, err := s.js.PublishMsg(ctx, s.message(&recs[0], now))
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
			return fmt.Errorf("jsstore: append: %w: %w", errNothingStored, err)
		}
		if err != nil {
			return fmt.Errorf("jsstore: append: %w", err)
		}
		last = ack.Sequence
	} else {
		id := nuid.Next()
		for i := range recs {
			m := s.message(&recs[i], now)
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
			if i < len(recs)-1 {
				if err := s.nc.PublishMsg(m); err != nil {
					return fmt.Errorf("jsstore: append: %w", err)
				}
				continue
			}
			m.Header.Set("Nats-Batch-Commit", "1")
			resp, err := s.nc.RequestMsgWithContext(ctx, m)
			if errors.Is(err, nats.ErrNoResponders) {
				return fmt.Errorf("jsstore: append: %w: %w", errNothingStored, err)
			}
			if err != nil {
				return fmt.Errorf("jsstore: append: %w", err)
			}
			var ack struct {
				Seq   uint64 `json:"seq"`
				Count int    `json:"count"`
				Error *struct {
					Description string `json:"description"`
				} `json:"error"`
			}
			if err := json.Unmarshal(resp.Data, &ack); err != nil {
				return fmt.Errorf("%w: %v", ErrReply, err)
			}
			if ack.Error != nil {
				if strings.Contains(ack.Error.Description, "incomplete") {
					return fmt.Errorf("jsstore: append: %w: %s", errNothingStored, ack.Error.Description)
				}
				return fmt.Errorf("jsstore: append: %s", ack.Error.Description)
			}
			if ack.Count != len(recs) {
				return fmt.Errorf("%w: batch of %d acknowledged %d", ErrReply, len(recs), ack.Count)
			}
			last = ack.Seq
		}
	}
	first := last - uint64(len(recs)) + 1
	s.mu.Lock()
	for i := range recs {
		recs[i].Seq = first + uint64(i)
		heap.Push(&s.expires, expiry{seq: recs[i].Seq, at: recs[i].DropAfter})
	}
	s.mu.Unlock()
	return nil
}

// expireSome deletes up to 100 entries this Store appended whose DropAfter is before now.
func (s *Store) expireSome(ctx context.Context, now time.Time) {
	s.mu.Lock()
	var seqs []uint64
	for len(seqs) < appendSweep && s.expires.Len() > 0 && s.expires[0].at.Before(now) {
		seqs = append(seqs, heap.Pop(&s.expires).(expiry).seq)
	}
	s.mu.Unlock()
	for _, seq := range seqs {
		_ = s.stream.DeleteMsg(ctx, seq) // already gone (TTL, Sweep) is fine
	}
}

// Head returns the highest sequence assigned so far.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var info *jetstream.StreamInfo
	err := transient(ctx, func() (err error) { info, err = s.stream.Info(ctx); return err })
	if err != nil {
		return 0, fmt.Errorf("jsstore: head: %w", err)
	}
	return info.State.LastSeq, nil
}

// scan calls fn for every entry with from <= seq <= head, in order, until fn returns an error.
// Entries that do not decode are skipped and reported to the error handler.
func (s *Store) scan(ctx context.Context, from, head uint64, fn func(r events.Revocation) error) error {
	if from > head {
		return nil
	}
	var cons jetstream.Consumer
	err := transient(ctx, func() (err error) {
		cons, err = s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{s.o.subject},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    from,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: read: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var msgs jetstream.MessageBatch
		err := transient(ctx, func() (err error) {
			msgs, err = cons.FetchNoWait(s.o.batch)
			return err
		})
		if err != nil {
			return fmt.Errorf("jsstore: read: %w", err)
		}
		got, done := 0, false
		var stop error
		for m := range msgs.Messages() {
			got++
			if done || stop != nil {
				continue // drain the batch
			}
			meta, err := m.Metadata()
			if err != nil {
				stop = fmt.Errorf("%w: %v", ErrReply, err)
				continue
			}
			seq := meta.Sequence.Stream
			if seq > head {
				done = true
				continue
			}
			r, err := events.DecodeRevocation(m.Data())
			if err != nil {
				s.o.onError(fmt.Errorf("jsstore: entry %d skipped: %w", seq, err))
			} else {
				r.Seq = seq
				stop = fn(r)
			}
			if seq == head || meta.NumPending == 0 {
				done = true
			}
		}
		if stop != nil {
			return stop
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("jsstore: read: %w", err)
		}
		if done || got == 0 {
			return nil
		}
	}
}

// first returns the first sequence in the stream, or 0 when it holds no message.
func (s *Store) first(ctx context.Context) (uint64, error) {
	var info *jetstream.StreamInfo
	err := transient(ctx, func() (err error) { info, err = s.stream.Info(ctx); return err })
	if err != nil {
		return 0, fmt.Errorf("jsstore: %w", err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	return max(info.State.FirstSeq, 1), nil
}

var errStop = errors.New("stop")

// transient calls f until it succeeds or fails otherwise than with no responder, for at most 10s:
// in a cluster a request can briefly find no responder while a stream leader moves or interest
// propagates between servers.
func transient(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := f()
		if err == nil || !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// errNothingStored marks an append failure after which nothing of the batch is in the stream.
var errNothingStored = errors.New("nothing stored")

// Snapshot reads the head, then streams every live entry with seq <= head in batches.
func (s *Store) Snapshot(ctx context.Context, fn func(batch []events.Revocation) error) (uint64, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, err
	}
	first, err := s.first(ctx)
	if err != nil || first == 0 {
		return head, err
	}
	now := s.o.clock()
	batch := make([]events.Revocation, 0, min(s.o.batch, 10_000))
	err = s.scan(ctx, first, head, func(r events.Revocation) error {
		if !r.DropAfter.After(now) {
			return nil
		}
		batch = append(batch, r)
		if len(batch) < s.o.batch {
			return nil
		}
		err := fn(batch)
		batch = batch[:0]
		return err
	})
	if err == nil && len(batch) > 0 {
		err = fn(batch)
	}
	return head, err
}

// After returns up to limit live entries with seq > after, and the head read before them.
func (s *Store) After(ctx context.Context, after uint64, limit int) ([]events.Revocation, uint64, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := s.o.clock()
	var out []events.Revocation
	err = s.scan(ctx, after+1, head, func(r events.Revocation) error {
		if r.DropAfter.After(now) {
			out = append(out, r)
		}
		if len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, 0, err
	}
	return out, head, nil
}

// Sweep deletes every entry whose DropAfter is before now and returns how many it deleted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, err
	}
	first, err := s.first(ctx)
	if err != nil || first == 0 {
		return 0, err
	}
	var dead []uint64
	err = s.scan(ctx, first, head, func(r events.Revocation) error {
		if r.DropAfter.Before(now) {
			dead = append(dead, r.Seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, seq := range dead {
		if err := s.stream.DeleteMsg(ctx, seq); err == nil {
			n++
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("jsstore: sweep: %w", err)
		}
	}
	return n, nil
}

// expiry is one appended entry's DropAfter.
type expiry struct {
	seq uint64
	at  time.Time
}

// expiryHeap is a min-heap of expiries by time.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
