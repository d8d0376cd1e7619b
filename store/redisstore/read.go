package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
)

// Snapshot reads the head first, then streams every live entry (DropAfter after now, by the store's
// clock read once at the start) with seq <= head to fn, in batches of at most the batch size
// (WithBatchSize), in increasing seq order, and returns that head. fn must not retain the batch
// slice; the strings in the revocations may be retained, but they share memory with the page read
// from Redis (a whole encoded entry), so a caller that keeps only an ID for long should
// strings.Clone it.
//
// While fn processes one page, a goroutine already reads the next one from Redis; it has stopped
// when Snapshot returns. An entry that does not decode is skipped, counted and reported to the
// error handler (WithErrorHandler). An error from fn is returned as it is; an error from Redis or
// the context is wrapped. Entries appended during the snapshot have seq > head and are not read.
func (s *Store) Snapshot(ctx context.Context, fn func(batch []events.Revocation) error) (head uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.now()
	head, err = s.Head(ctx)
	if err != nil || head == 0 {
		return head, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		s.fetch(ctx, head, pages)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	batch := make([]events.Revocation, 0, s.batchSize)
	for p := range pages {
		if p.err != nil {
			return head, fmt.Errorf("redisstore: snapshot: %w", p.err)
		}
		batch = s.decode(batch[:0], p.zs, now)
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return head, err
			}
		}
		if err := ctx.Err(); err != nil {
			return head, err
		}
	}
	return head, nil
}

// page is one page read by Snapshot's fetcher.
type page struct {
	zs  []redis.Z
	err error
}

// fetch reads the log's entries with seq in (0, head] page by page into pages, stopping after a
// short page, an error, or when ctx is done.
func (s *Store) fetch(ctx context.Context, head uint64, pages chan<- page) {
	stop := strconv.FormatUint(head, 10)
	last := uint64(0)
	for {
		zs, err := s.readPage(ctx, last, stop)
		select {
		case pages <- page{zs, err}:
		case <-ctx.Done():
			return
		}
		if err != nil || len(zs) < s.batchSize {
			return
		}
		last = uint64(zs[len(zs)-1].Score)
	}
}

// readPage reads up to the batch size of raw entries with seq in (after, stop].
func (s *Store) readPage(ctx context.Context, after uint64, stop string) ([]redis.Z, error) {
	return s.client.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key:     s.keyLog,
		Start:   "(" + strconv.FormatUint(after, 10),
		Stop:    stop,
		ByScore: true,
		Count:   int64(s.batchSize),
	}).Result()
}

// decode appends the live entries of zs to dst.
func (s *Store) decode(dst []events.Revocation, zs []redis.Z, now time.Time) []events.Revocation {
	for i := range zs {
		member, _ := zs[i].Member.(string)
		if r, ok := s.decodeOne(member, zs[i].Score); ok && r.DropAfter.After(now) {
			dst = append(dst, r)
		}
	}
	return dst
}

// decodeOne decodes one stored entry and sets its Seq from the score, reporting an entry that does
// not decode.
func (s *Store) decodeOne(member string, score float64) (events.Revocation, bool) {
	seq := uint64(score)
	r, err := events.DecodeRevocationString(member)
	if err != nil {
		s.corrupt.Add(1)
		s.onError(fmt.Errorf("%w: seq %d: %w", ErrCorrupt, seq, err))
		return r, false
	}
	r.Seq = seq
	return r, true
}

// After returns up to limit live entries (DropAfter after now, by the store's clock) with seq >
// after, in increasing order, and a head read atomically with them (one Lua script), so that when
// len(recs) < limit the caller has seen every live entry with seq <= head. Dead and undecodable
// entries (reported as by Snapshot) are skipped without shortening the page: After reads on until
// it has limit live entries or has reached the head. A limit below 1 returns no entries and the
// head.
func (s *Store) After(ctx context.Context, after uint64, limit int) (recs []events.Revocation, head uint64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if limit < 1 {
		head, err := s.Head(ctx)
		return nil, head, err
	}
	now := s.now()
	keys := []string{s.keySeq, s.keyLog}
	for {
		want := limit - len(recs)
		res, err := afterScript.Run(ctx, s.client, keys, strconv.FormatUint(after, 10), want).Slice()
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: after: %w", err)
		}
		if len(res) != 2 {
			return nil, 0, fmt.Errorf("%w: after returned %d values", ErrReply, len(res))
		}
		hs, ok1 := res[0].(string)
		items, ok2 := res[1].([]any)
		if !ok1 || !ok2 || len(items)%2 != 0 {
			return nil, 0, fmt.Errorf("%w: after returned %T, %T", ErrReply, res[0], res[1])
		}
		if head, err = parseSeq(hs); err != nil {
			return nil, 0, err
		}
		for i := 0; i < len(items); i += 2 {
			member, _ := items[i].(string)
			score, _ := items[i+1].(string)
			seq, err := parseSeq(score)
			if err != nil {
				return nil, 0, err
			}
			after = seq
			if r, ok := s.decodeOne(member, float64(seq)); ok && r.DropAfter.After(now) {
				recs = append(recs, r)
			}
		}
		if len(items)/2 < want || len(recs) == limit {
			return recs, head, nil
		}
	}
}
