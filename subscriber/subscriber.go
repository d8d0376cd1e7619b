package subscriber

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/stats"
)

// Source is what the subscriber needs from the durable revocation log. *redisstore.Store and
// *jsstore.Store satisfy it.
type Source interface {
	// Snapshot reads the head first, then streams every live entry with seq <= head to fn in
	// batches, in increasing seq order, and returns that head. fn must not retain the slice or
	// its strings.
	Snapshot(ctx context.Context, fn func(batch []events.Revocation) error) (head uint64, err error)
	// After returns up to limit live entries with seq > after, in increasing order, and a head
	// read with or before them: when len(recs) < limit, every live entry <= head was returned.
	After(ctx context.Context, after uint64, limit int) (recs []events.Revocation, head uint64, err error)
}

// Resync reasons, the keys of Stats.Resyncs.
const (
	ReasonGap            = "gap"
	ReasonHeartbeatAhead = "heartbeat_ahead"
	ReasonReconnect      = "reconnect"
	ReasonSlowConsumer   = "slow_consumer"
	ReasonSilence        = "silence"
	ReasonPoll           = "poll"
	// ReasonRegressed: the store's head went below the applied sequence (a failover that lost
	// acknowledged writes, a store restored from an old backup or replaced by an empty one). New
	// revocations reuse sequence numbers the subscriber has applied, so it reloads a full
	// snapshot, keeping every entry it already has.
	ReasonRegressed = "regressed"
)

var reasons = [...]string{ReasonGap, ReasonHeartbeatAhead, ReasonReconnect, ReasonSlowConsumer, ReasonSilence, ReasonPoll, ReasonRegressed}

// Subscriber keeps an in-process copy of every live revocation and answers Check without any
// network hop. Build it with New, then Start it; Check is safe for concurrent use from any number
// of goroutines and never blocks. Close stops it.
type Subscriber struct {
	nc  *nats.Conn
	src Source
	o   options
	h   *hasher

	tab       atomic.Pointer[table]
	allNB     atomic.Int64 // NotBefore of the newest kind-all revocation, unix ns; MinInt64 if none
	subjects  atomic.Int64 // number of subject entries: Check skips that lookup when zero
	applied   atomic.Uint64
	headSeen  atomic.Uint64
	lastFresh atomic.Int64 // unix ns

	// counters
	appliedCount atomic.Uint64
	duplicates   atomic.Uint64
	invalid      atomic.Uint64
	unverified   atomic.Uint64
	sweeps       atomic.Uint64
	resyncs      [len(reasons)]atomic.Uint64
	byKind       [events.KindAll + 1]atomic.Int64
	statusErrs   atomic.Uint64
	lag          *stats.Histogram // revoked_at → applied, for revocations applied after Start

	instance string    // this process's id in status replies
	born     time.Time // New

	// wmu is the writer lock. The cache has one writer at a time: Start while it loads the
	// snapshot, then, in turns, the NATS subscription's goroutine applying an event (onMsg) and the
	// protocol goroutine doing its periodic work (loop). Check never takes it. Everything below it
	// up to sub is guarded by it.
	wmu      sync.Mutex
	live     bool             // Start succeeded and Close has not run: events are applied
	subjDrop map[uint64]int64 // subject key → DropAfter
	anchor   anchor           // the highest-sequence entry learned from the store or NATS
	diverged bool             // a revocation the cache lacked arrived under an applied sequence
	allDrop  int64
	received map[uint64]struct{} // seqs above applied already applied from NATS
	gapSince time.Time           // when the first unfilled gap was seen; zero when none
	// protocol timers, on the monotonic clock
	gapReason        string    // why the open gap is open
	lastHeard        time.Time // the last event or heartbeat
	lastPoll         time.Time // the last successful catch-up
	retryAt          time.Time // after a failed catch-up, not before this
	lastRegressCheck time.Time // a heartbeat below the applied sequence last checked against the store
	lastResnapshot   time.Time // a full snapshot last reloaded for a reused sequence number
	reconnectsSeen   uint64    // the NATS connection's reconnect count at the last look
	droppedSeen      int       // the subscription's dropped count at the last look
	lastSweep        time.Time // the injected clock at the last expiry sweep

	sub     atomic.Pointer[nats.Subscription]
	ready   chan struct{}
	closing chan struct{}
	life    context.Context // canceled by Close: ends a snapshot or catch-up in progress
	stop    context.CancelFunc
	close   sync.Once

	mu      sync.Mutex // guards started, closed and adding to wg
	started bool
	closed  bool
	wg      sync.WaitGroup // Start and the protocol goroutine; Close waits for both
}

// New returns a Subscriber that learns revocations from nc (events under the prefix) and src (the
// durable log). nc may be nil: the subscriber then polls src. New never closes nc; the caller does,
// after Close.
func New(nc *nats.Conn, src Source, opts ...Option) (*Subscriber, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil source", ErrOption)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &Subscriber{
		nc: nc, src: src, o: o, h: newHasher(),
		subjDrop: map[uint64]int64{},
		received: map[uint64]struct{}{},
		ready:    make(chan struct{}),
		closing:  make(chan struct{}),
		lag:      stats.NewHistogram(),
		instance: newInstanceID(),
		born:     time.Now(),
	}
	s.life, s.stop = context.WithCancel(context.Background())
	s.tab.Store(newTable(0))
	s.allNB.Store(minInt64)
	return s, nil
}

const minInt64 = -1 << 63

// Check reports whether the token with claims c is revoked: nil if not, an error wrapping
// ErrRevoked (errors.As gives the *RevokedError with the kind that matched) if it is, and
// ErrIncomplete for nil claims or claims without jti or sid, which nothing may let through
// unchecked. It does not allocate, takes no lock, and is safe for concurrent use.
func (s *Subscriber) Check(c *Claims) error {
	if c == nil || c.ID == "" || c.SessionID == "" {
		return ErrIncomplete
	}
	iat := c.IssuedAt.UnixNano()
	if iat < s.allNB.Load() {
		return revokedErrs[events.KindAll]
	}
	// All keys and filter words first, then the tests: the filter reads (each a likely cache
	// miss against a large table) are independent, so the CPU can have them in flight together.
	t := s.tab.Load()
	kt, ks := s.h.key(events.KindToken, c.ID), s.h.key(events.KindSession, c.SessionID)
	wt, bt := t.filterBit(kt)
	ws, bs := t.filterBit(ks)
	subj := s.subjects.Load() > 0
	var ku, bu uint64
	var wu *atomic.Uint64
	if subj {
		ku = s.h.key(events.KindSubject, c.Subject)
		wu, bu = t.filterBit(ku)
	}
	ft, fs := wt.Load()&bt == bt, ws.Load()&bs == bs
	if ft {
		if _, ok := t.probe(kt); ok {
			return revokedErrs[events.KindToken]
		}
	}
	if fs {
		if _, ok := t.probe(ks); ok {
			return revokedErrs[events.KindSession]
		}
	}
	if subj && wu.Load()&bu == bu {
		if nb, ok := t.probe(ku); ok && iat < nb {
			return revokedErrs[events.KindSubject]
		}
	}
	return nil
}

// Ready returns a channel closed once Start has loaded the snapshot.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// LastFresh returns when the subscriber was last proven up to date with the store.
func (s *Subscriber) LastFresh() time.Time {
	ns := s.lastFresh.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Fresh reports whether the subscriber was proven up to date within the freshness bound.
func (s *Subscriber) Fresh() bool {
	ns := s.lastFresh.Load()
	return ns != 0 && s.o.clock().UnixNano()-ns <= int64(s.o.freshness)
}

func (s *Subscriber) markFresh() { s.lastFresh.Store(s.o.clock().UnixNano()) }

// Start subscribes, loads the snapshot from the store, applies what arrived meanwhile, and returns
// once the subscriber is ready: every revocation whose Revoke returned before Start was called is
// then in the cache. While the store is unreachable it retries with backoff (reporting each failure
// to the error handler) until ctx ends. The subscriber keeps running after Start returns, until
// Close; ctx only bounds the start. Close during Start ends it with ErrClosed; a second Start
// returns ErrStarted.
func (s *Subscriber) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.started:
		s.mu.Unlock()
		return ErrStarted
	}
	s.started = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)() // Close ends a start in progress
	// Events arriving from here on wait for the snapshot: onMsg blocks on the writer lock (and
	// NATS queues the rest, up to the pending limits), then applies them once Start is done.
	s.wmu.Lock()
	defer s.wmu.Unlock()

	if s.nc != nil {
		sub, err := s.nc.Subscribe(s.o.prefix+".>", s.onMsg)
		if err != nil {
			return fmt.Errorf("subscriber: subscribe: %w", err)
		}
		s.sub.Store(sub) // before anything can fail: Close unsubscribes it after Start returns
		if s.o.pendingMsgs != 0 {
			if err := sub.SetPendingLimits(s.o.pendingMsgs, s.o.pendingBytes); err != nil {
				s.unsubscribe()
				return fmt.Errorf("subscriber: pending limits: %w", err)
			}
		}
		// Make sure the server has the interest before the snapshot's head is read, so nothing
		// appended after the head can be missed by both.
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second) // Flush needs a deadline
		err = s.nc.FlushWithContext(fctx)
		fcancel()
		if err != nil && s.nc.IsConnected() {
			s.unsubscribe()
			if s.life.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("subscriber: flush: %w", err)
		}
	}
	backoff := 50 * time.Millisecond
	for {
		err := s.snapshot(ctx)
		if err == nil {
			break
		}
		if s.life.Err() != nil {
			s.unsubscribe()
			return ErrClosed
		}
		if ctx.Err() == nil {
			s.o.errorHandler(fmt.Errorf("%w: snapshot: %w", ErrCatchUp, err))
		}
		select {
		case <-ctx.Done():
			s.unsubscribe()
			if s.life.Err() != nil {
				return ErrClosed
			}
			return ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
	s.o.logger.Info("subscriber ready", "applied", s.applied.Load(), "entries", s.tab.Load().count)
	// The clock is read before Start reports ready, so an expiry due after that is never skipped.
	s.lastSweep = s.o.clock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.unsubscribe()
		return ErrClosed
	}
	now := time.Now()
	s.lastHeard, s.lastPoll = now, now
	s.reconnectsSeen, s.droppedSeen = s.reconnects(), s.dropped()
	s.live = true
	close(s.ready)
	s.wg.Add(1)
	go s.loop()
	return nil
}

// snapshot loads every live entry of the store into the cache and records the snapshot's head as
// applied. Under wmu: Start calls it before any event is applied.
func (s *Subscriber) snapshot(ctx context.Context) error {
	head, err := s.loadSnapshot(ctx)
	if err != nil {
		return err
	}
	s.advance(head)
	s.markFresh()
	return nil
}

// loadSnapshot inserts every live entry of the store into the cache (keeping what is there) and
// returns the snapshot's head. Writer only.
func (s *Subscriber) loadSnapshot(ctx context.Context) (uint64, error) {
	return s.src.Snapshot(ctx, func(batch []events.Revocation) error {
		for i := range batch {
			s.insert(&batch[i])
			s.setAnchor(&batch[i])
		}
		return nil
	})
}

// onMsg runs on the NATS subscription's goroutine: it decodes and verifies an event, then applies
// it under the writer lock.
func (s *Subscriber) onMsg(m *nats.Msg) {
	switch {
	case strings.HasSuffix(m.Subject, ".rev") && m.Subject == events.RevocationSubject(s.o.prefix):
		rev, err := events.DecodeRevocation(m.Data)
		if err == nil && rev.Seq == 0 {
			err = fmt.Errorf("%w: no seq", events.ErrField)
		}
		if err != nil {
			s.dropInvalid(err)
			return
		}
		if !s.verified(rev.Kid, rev.Sig, rev.SigningBytes) {
			return
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.live {
			s.onRevocation(&rev)
		}
	case m.Subject == events.HeartbeatSubject(s.o.prefix):
		hb, err := events.DecodeHeartbeat(m.Data)
		if err != nil {
			s.dropInvalid(err)
			return
		}
		if !s.verified(hb.Kid, hb.Sig, hb.SigningBytes) {
			return
		}
		if s.o.trusted != nil {
			if age := s.o.clock().Sub(hb.Time); age > s.o.heartbeatBound || age < -s.o.heartbeatBound {
				s.unverified.Add(1)
				s.o.errorHandler(fmt.Errorf("%w: heartbeat %v old (a replay, or clocks apart)", ErrSignature, age.Round(time.Millisecond)))
				return
			}
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.live {
			s.onHeartbeat(&hb)
		}
	case m.Subject == events.StatusSubject(s.o.prefix):
		s.answerStatus(m)
	default:
		// another subject under the prefix: not ours
	}
}

// verified reports whether an event is acceptable: always without trusted keys, otherwise only when
// signed by one of them. A rejected event is counted and reported.
func (s *Subscriber) verified(kid string, sig []byte, signing func([]byte) []byte) bool {
	if s.o.trusted == nil {
		return true
	}
	pub, ok := s.o.trusted[kid]
	if ok && sig != nil && ed25519.Verify(pub, signing(nil), sig) {
		return true
	}
	s.unverified.Add(1)
	reason := "bad signature"
	switch {
	case sig == nil:
		reason = "unsigned"
	case !ok:
		reason = "unknown key"
	}
	s.o.errorHandler(fmt.Errorf("%w: %s", ErrSignature, reason))
	return false
}

func (s *Subscriber) dropInvalid(err error) {
	s.invalid.Add(1)
	s.o.errorHandler(fmt.Errorf("%w: %w", ErrEvent, err))
}

// insert applies one revocation to the cache. Writer only. It reports whether it changed anything.
func (s *Subscriber) insert(r *events.Revocation) bool {
	switch r.Kind {
	case events.KindAll:
		nb := r.NotBefore.UnixNano()
		if d := r.DropAfter.UnixNano(); d > s.allDrop {
			s.allDrop = d
		}
		if nb > s.allNB.Load() {
			s.allNB.Store(nb)
			if s.byKind[events.KindAll].Load() == 0 {
				s.byKind[events.KindAll].Store(1)
			}
			return true
		}
		return false
	case events.KindToken, events.KindSession, events.KindSubject:
	default:
		return false
	}
	key := s.h.key(r.Kind, r.ID)
	val := r.DropAfter.UnixNano()
	if r.Kind == events.KindSubject {
		val = r.NotBefore.UnixNano()
		if d := r.DropAfter.UnixNano(); d > s.subjDrop[key] {
			s.subjDrop[key] = d
		}
	}
	t := s.tab.Load()
	if t.full() {
		t = t.rebuilt(func(uint64, int64) bool { return true })
		s.tab.Store(t)
	}
	if t.put(key, val) {
		s.byKind[r.Kind].Add(1)
		if r.Kind == events.KindSubject {
			s.subjects.Add(1)
		}
		return true
	}
	return false
}

// sweep removes entries whose DropAfter has passed. Writer only.
func (s *Subscriber) sweep(now time.Time) {
	n := now.UnixNano()
	if s.allDrop != 0 && s.allDrop < n {
		s.allNB.Store(minInt64)
		s.allDrop = 0
		s.byKind[events.KindAll].Store(0)
	}
	dropAfter := func(k uint64, v int64) int64 {
		if keyKind(k) == events.KindSubject {
			return s.subjDrop[k]
		}
		return v
	}
	t := s.tab.Load()
	expired := false
	for i := range t.slots {
		if k := t.slots[i].key.Load(); k != 0 && dropAfter(k, t.slots[i].val.Load()) < n {
			expired = true
			break
		}
	}
	if !expired {
		return
	}
	var removed [events.KindAll + 1]int64
	nt := t.rebuilt(func(k uint64, v int64) bool {
		if dropAfter(k, v) >= n {
			return true
		}
		removed[keyKind(k)]++
		if keyKind(k) == events.KindSubject {
			delete(s.subjDrop, k)
		}
		return false
	})
	s.tab.Store(nt)
	for k, r := range removed {
		s.byKind[k].Add(-r)
	}
	s.subjects.Add(-removed[events.KindSubject])
}
