package jsstore

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/revocast/revocast/events"
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

	publishes atomic.Int64 // publish attempts of single records (observed by tests)
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
		AllowDirect:        true,
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

// Append durably appends recs in order with dense sequence numbers (recs[i].Seq is set): one record
// as a deduplicated publish, several as atomic batches of up to 1,000. It validates every record
// first (ErrInvalid, ErrRetention) and appends nothing if one is refused. It returns after the stream
// acknowledged the write, retrying for up to 15s while the stream has no leader or no responder.
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
		var err error
		if len(chunk) == 1 {
			err = s.appendOne(ctx, &chunk[0], now)
		} else {
			err = s.appendBatch(ctx, chunk, now)
		}
		if err != nil {
			return err
		}
	}
	s.expireSome(ctx, now)
	return nil
}

// message is the stream message of r: r without its Seq, with a TTL of its DropAfter from now plus
// one to two seconds (whole seconds, rounded up).
func (s *Store) message(r *events.Revocation, now time.Time) *nats.Msg {
	rec := *r
	rec.Seq = 0
	m := nats.NewMsg(s.o.subject)
	m.Data = rec.AppendJSON(nil)
	ttl := max(r.DropAfter.Sub(now), 0) + time.Second
	m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64(ttl/time.Second)+1, 10)+"s")
	return m
}

// appendOne publishes one record with a message id, so that a publish retried after a lost
// acknowledgement is answered with the first copy's sequence rather than stored again.
func (s *Store) appendOne(ctx context.Context, r *events.Revocation, now time.Time) error {
	m := s.message(r, now)
	m.Header.Set(jetstream.MsgIDHeader, nuid.Next())
	var ack *jetstream.PubAck
	err := retry(ctx, writeTimeout, func(ctx context.Context) (err error) {
		s.publishes.Add(1)
		ack, err = s.js.PublishMsg(ctx, m)
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: append: %w", err)
	}
	s.assigned([]events.Revocation{*r}, ack.Sequence)
	r.Seq = ack.Sequence
	return nil
}

// appendBatch publishes recs as one atomic batch, retried only while nothing of it was stored.
func (s *Store) appendBatch(ctx context.Context, recs []events.Revocation, now time.Time) error {
	var last uint64
	err := retry(ctx, writeTimeout, func(ctx context.Context) (err error) {
		last, err = s.publishBatch(ctx, recs, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: append: %w", err)
	}
	first := last - uint64(len(recs)) + 1
	for i := range recs {
		recs[i].Seq = first + uint64(i)
	}
	s.assigned(recs, first)
	return nil
}

// publishBatch sends one atomic batch and returns the sequence of its last message. Its errors are
// errNothingStored (retry) or final; a commit without an answer is ErrUnknownOutcome.
func (s *Store) publishBatch(ctx context.Context, recs []events.Revocation, now time.Time) (uint64, error) {
	id := nuid.Next()
	for i := range recs {
		m := s.message(&recs[i], now)
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(recs)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, err // not committed: nothing stored, and not retryable (connection closed)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := s.nc.RequestMsgWithContext(ctx, m)
		if errors.Is(err, nats.ErrNoResponders) {
			return 0, fmt.Errorf("%w: %w", errNothingStored, err)
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		}
		var ack struct {
			Seq   uint64 `json:"seq"`
			Count int    `json:"count"`
			Error *struct {
				Code        int    `json:"code"`
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrReply, err)
		}
		if ack.Error != nil {
			// 10176: the stream saw only part of the batch (interest still propagating, a leader
			// change): it stored none of it.
			if ack.Error.ErrCode == 10176 || ack.Error.Code == 503 {
				return 0, fmt.Errorf("%w: %s", errNothingStored, ack.Error.Description)
			}
			return 0, fmt.Errorf("jsstore: %s (%d)", ack.Error.Description, ack.Error.ErrCode)
		}
		if ack.Count != len(recs) || ack.Seq < uint64(len(recs)) {
			return 0, fmt.Errorf("%w: batch of %d acknowledged as %d ending at %d", ErrReply, len(recs), ack.Count, ack.Seq)
		}
		return ack.Seq, nil
	}
	return 0, nil
}

// assigned records the expiries of recs, appended from sequence first on.
func (s *Store) assigned(recs []events.Revocation, first uint64) {
	s.mu.Lock()
	for i := range recs {
		heap.Push(&s.expires, expiry{seq: first + uint64(i), at: recs[i].DropAfter})
	}
	s.mu.Unlock()
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

// Head returns the highest sequence assigned so far (0 for an empty log): the stream's last
// sequence, which expiry never lowers.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var info *jetstream.StreamInfo
	err := retry(ctx, readTimeout, func(ctx context.Context) (err error) {
		info, err = s.stream.Info(ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("jsstore: head: %w", err)
	}
	return info.State.LastSeq, nil
}

// Snapshot reads the head, then calls fn with every live entry (DropAfter after the Store's now)
// with seq <= head, in batches of up to WithBatchSize, in increasing seq order, and returns the head.
// fn must not retain the slice; an error from fn stops Snapshot and is returned as is.
func (s *Store) Snapshot(ctx context.Context, fn func(batch []events.Revocation) error) (uint64, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, err
	}
	now := s.o.clock()
	batch := make([]events.Revocation, 0, min(s.o.batch, int(min(head, 1<<20))))
	err = s.read(ctx, 1, head, s.o.batch, func(r events.Revocation) error {
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

// After returns up to limit live entries with seq > after, in increasing order, and the head read
// before them: when fewer than limit come back, they are every live entry up to that head.
func (s *Store) After(ctx context.Context, after uint64, limit int) ([]events.Revocation, uint64, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		return nil, head, nil
	}
	now := s.o.clock()
	var out []events.Revocation
	err = s.read(ctx, after+1, head, min(s.o.batch, limit), func(r events.Revocation) error {
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

// Sweep deletes every entry whose DropAfter is before now and returns how many it deleted. It reads
// the whole stream; with the real clock the server's per-message TTLs have usually removed them
// already.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, err
	}
	var dead []uint64
	err = s.read(ctx, 1, head, s.o.batch, func(r events.Revocation) error {
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
		err := retry(ctx, writeTimeout, func(ctx context.Context) error { return s.stream.DeleteMsg(ctx, seq) })
		if err == nil {
			n++
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("jsstore: sweep: %w", err)
		}
	}
	return n, nil
}

var errStop = errors.New("stop")

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
