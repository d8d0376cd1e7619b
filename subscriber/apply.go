package subscriber

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/revocast/revocast/events"
)

// maxReceived bounds the out-of-order sequence numbers remembered while a gap is open; past it the
// subscriber catches up at once.
const maxReceived = 100_000

// loop is the protocol goroutine: every tick (a fraction of the shortest of the gap wait, the poll
// interval and the heartbeat bound) it takes the writer lock and does the periodic work. Events
// themselves are applied on the NATS subscription's goroutine (onMsg), so a revocation reaches the
// cache with no goroutine hand-off beyond NATS's own.
func (s *Subscriber) loop() {
	defer s.wg.Done()
	every := min(s.o.gapWait, s.o.pollInterval, s.o.heartbeatBound) / 2
	every = max(5*time.Millisecond, min(every, 250*time.Millisecond))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-tick.C:
		}
		s.wmu.Lock()
		s.periodic()
		s.wmu.Unlock()
	}
}

// periodic does the protocol's timed work: a catch-up after a reconnect, a slow-consumer drop or a
// gap left open for the gap wait; store polling while NATS is down or silent; expiry. Under wmu.
// Protocol timers use the monotonic clock; the injected clock drives expiry and freshness.
func (s *Subscriber) periodic() {
	s.reloadIfDiverged()
	now := time.Now()
	if r := s.reconnects(); r != s.reconnectsSeen {
		s.reconnectsSeen = r
		s.retryAt = time.Time{}
		s.tryCatchUp(ReasonReconnect)
	}
	if d := s.dropped(); d != s.droppedSeen {
		s.droppedSeen = d
		s.retryAt = time.Time{}
		s.tryCatchUp(ReasonSlowConsumer)
	}
	if !s.gapSince.IsZero() && now.Sub(s.gapSince) >= s.o.gapWait {
		s.tryCatchUp(s.gapReason)
	}
	// Poll the store every poll interval while NATS is disconnected (or absent), and while it is
	// connected but silent for longer than the heartbeat bound (a half-open connection).
	disconnected := s.nc == nil || !s.nc.IsConnected()
	if (disconnected || now.Sub(s.lastHeard) >= s.o.heartbeatBound) && now.Sub(s.lastPoll) >= s.o.pollInterval {
		reason := ReasonSilence
		if disconnected {
			reason = ReasonPoll
		}
		s.lastPoll = now
		s.tryCatchUp(reason)
	}
	if c := s.o.clock(); c.Sub(s.lastSweep) >= s.o.sweepInterval {
		s.lastSweep = c
		s.sweep(c)
		s.sweeps.Add(1)
	}
}

// onRevocation applies a revocation that arrived on NATS. Under wmu, after Start.
func (s *Subscriber) onRevocation(r *events.Revocation) {
	s.lastHeard = time.Now()
	if s.applyEvent(r) && s.gapSince.IsZero() {
		s.gapSince, s.gapReason = time.Now(), ReasonGap
	}
	s.reloadIfDiverged()
	if len(s.received) > maxReceived {
		s.tryCatchUp(ReasonGap)
	}
}

// onHeartbeat handles a heartbeat: the store's head it carries is what must be applied. Under
// wmu, after Start.
func (s *Subscriber) onHeartbeat(h *events.Heartbeat) {
	s.lastHeard = time.Now()
	if h.Head > s.headSeen.Load() {
		s.headSeen.Store(h.Head)
	}
	switch applied := s.applied.Load(); {
	case h.Head < applied:
		// The store's head is behind what was applied: the log regressed, or this heartbeat was
		// overtaken in transit by a later event. The store tells which. Checked at most once per
		// poll interval.
		if time.Since(s.lastRegressCheck) >= s.o.pollInterval {
			s.lastRegressCheck = time.Now()
			s.tryCatchUp(ReasonRegressed)
		}
	case h.Head == applied:
		s.markFresh()
	case s.gapSince.IsZero():
		s.gapSince, s.gapReason = time.Now(), ReasonHeartbeatAhead
	}
}

// tryCatchUp catches up from the store unless a failed catch-up asked to wait. Under wmu.
func (s *Subscriber) tryCatchUp(reason string) {
	if time.Now().Before(s.retryAt) {
		return
	}
	if err := s.catchUp(reason); err != nil {
		s.retryAt = time.Now().Add(s.o.pollInterval)
		return
	}
	s.retryAt = time.Time{}
	s.lastPoll = time.Now()
}

// reloadIfDiverged reloads the store after a sequence number was reused (see applyEvent), at most
// once per poll interval. Under wmu.
func (s *Subscriber) reloadIfDiverged() {
	if !s.diverged || time.Since(s.lastResnapshot) < s.o.pollInterval {
		return
	}
	s.lastResnapshot = time.Now()
	if err := s.resnapshot("a revocation arrived under a sequence number already applied"); err != nil && !errors.Is(err, context.Canceled) {
		s.o.errorHandler(fmt.Errorf("%w (%s): %w", ErrCatchUp, ReasonRegressed, err))
	}
}

func (s *Subscriber) reconnects() uint64 {
	if s.nc == nil {
		return 0
	}
	return s.nc.Stats().Reconnects
}

func (s *Subscriber) dropped() int {
	sub := s.sub.Load()
	if sub == nil {
		return 0
	}
	d, err := sub.Dropped()
	if err != nil {
		return 0
	}
	return d
}

// applyEvent applies a revocation that arrived on NATS. It reports whether it left a gap (a
// sequence number below it still missing).
func (s *Subscriber) applyEvent(r *events.Revocation) (gap bool) {
	applied := s.applied.Load()
	if r.Seq > s.headSeen.Load() {
		s.headSeen.Store(r.Seq)
	}
	if _, dup := s.received[r.Seq]; dup || r.Seq <= applied {
		if s.covers(r) || !r.DropAfter.After(s.o.clock()) {
			s.duplicates.Add(1)
			return false
		}
		// A live revocation the cache lacks, under a sequence number already seen: the store's
		// log lost entries and reuses their numbers. Apply it, and reload everything (loop).
		s.apply(r)
		s.diverged = true
		return false
	}
	s.apply(r)
	if r.Seq == applied+1 {
		s.advance(r.Seq)
		return false
	}
	s.received[r.Seq] = struct{}{}
	return true
}

// apply inserts a revocation learned after Start and reports it.
func (s *Subscriber) apply(r *events.Revocation) {
	s.insert(r)
	s.setAnchor(r)
	s.appliedCount.Add(1)
	s.lag.Observe(s.o.clock().Sub(r.RevokedAt))
	if s.o.onRevoke != nil {
		s.o.onRevoke(*r)
	}
}

// advance records that everything up to seq is applied, then moves past any sequence numbers
// already received above it. It closes the gap when none is left open.
func (s *Subscriber) advance(seq uint64) {
	if seq > s.applied.Load() {
		s.applied.Store(seq)
	}
	applied := s.applied.Load()
	for {
		if _, ok := s.received[applied+1]; !ok {
			break
		}
		delete(s.received, applied+1)
		applied++
	}
	for q := range s.received {
		if q <= applied {
			delete(s.received, q)
		}
	}
	s.applied.Store(applied)
	if applied > s.headSeen.Load() {
		s.headSeen.Store(applied)
	}
	if len(s.received) == 0 && s.headSeen.Load() <= applied {
		s.gapSince = time.Time{}
	} else if s.gapSince.IsZero() {
		s.gapSince, s.gapReason = time.Now(), ReasonGap
	}
}

// catchUp reads every entry after the applied sequence from the store and applies it.
func (s *Subscriber) catchUp(reason string) error {
	if reason != ReasonRegressed { // counted by resnapshot, when it really was
		s.countResync(reason)
	}
	ctx, cancel := context.WithTimeout(s.life, 10*time.Second) // Close cancels a catch-up in progress
	defer cancel()
	// The log matching check: the store must still hold the last entry learned, under its
	// sequence number, unless it may have expired meanwhile.
	a := s.anchor
	verify := a.seq > 0 && a.seq <= s.applied.Load() && a.dropAfter > s.o.clock().Add(anchorMargin).UnixNano()
	for {
		applied := s.applied.Load()
		from := applied
		if verify {
			from = a.seq - 1
		}
		recs, head, err := s.src.After(ctx, from, s.o.catchUpBatch)
		if err == nil && (head < applied || verify && !a.matches(s.h, recs)) {
			why := fmt.Sprintf("store head %d below the applied sequence %d", head, applied)
			if head >= applied {
				why = fmt.Sprintf("the store no longer holds entry %d as it was", a.seq)
			}
			if err = s.resnapshot(why); err == nil {
				return nil
			}
		}
		verify = false
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.o.errorHandler(fmt.Errorf("%w (%s): %w", ErrCatchUp, reason, err))
				s.o.logger.Warn("catch-up failed", "reason", reason, "err", err)
			}
			return err
		}
		for i := range recs {
			r := &recs[i]
			if r.Seq <= applied {
				continue
			}
			if _, seen := s.received[r.Seq]; !seen && s.verified(r.Kid, r.Sig, r.SigningBytes) {
				s.apply(r)
			}
			applied = r.Seq
		}
		if len(recs) < s.o.catchUpBatch {
			// The store is the truth: a sequence or heartbeat beyond its head was not real (or
			// arrived after the read and is already applied; it is simply fetched again if it
			// turns out missing), so it must not hold a gap open forever.
			for q := range s.received {
				if q > head {
					delete(s.received, q)
				}
			}
			s.headSeen.Store(max(applied, head))
			s.advance(max(applied, head))
			s.markFresh()
			s.o.logger.Debug("caught up", "reason", reason, "applied", s.applied.Load())
			return nil
		}
		s.advance(applied)
	}
}

// unsubscribe stops NATS delivery. It is safe to call more than once.
func (s *Subscriber) unsubscribe() {
	if sub := s.sub.Load(); sub != nil {
		_ = sub.Unsubscribe()
	}
}

// Close stops the subscriber: it ends a Start in progress, waits for it and for the apply
// goroutine, then unsubscribes. It is idempotent and never closes the NATS connection. Check keeps answering from the last state after Close.
func (s *Subscriber) Close() error {
	s.close.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.closing)
		s.mu.Unlock()
		s.stop()
		s.wg.Wait() // Start (if running) and the protocol goroutine
		// An event being applied on the NATS goroutine finishes first; none is applied after.
		s.wmu.Lock()
		s.live = false
		s.wmu.Unlock()
		s.unsubscribe()
	})
	return nil
}

// resnapshot handles a store whose log lost acknowledged entries (a failover to a replica that
// lacked the last writes, a restore from an old backup, an emptied store): its head went below
// the applied sequence, it no longer holds the last entry learned, or a revocation arrived under
// a sequence number already applied. New revocations reuse sequence numbers the subscriber has
// applied, which a catch-up after them would skip. It loads a full
// snapshot into the cache, keeping every entry already there (never un-revoking anything), and
// restarts the sequence from the snapshot's head. Entries of that snapshot are not reported to
// OnRevoke.
func (s *Subscriber) resnapshot(why string) error {
	s.countResync(ReasonRegressed)
	s.o.errorHandler(fmt.Errorf("%w: %s; reloading a full snapshot", ErrRegressed, why))
	s.o.logger.Warn("store log regressed: reloading a full snapshot", "why", why, "applied", s.applied.Load())
	ctx, cancel := context.WithTimeout(s.life, 2*time.Minute)
	defer cancel()
	s.anchor = anchor{}
	s.diverged = false
	head, err := s.loadSnapshot(ctx)
	if err != nil {
		return err
	}
	clear(s.received)
	s.applied.Store(head)
	s.headSeen.Store(head)
	s.gapSince = time.Time{}
	s.markFresh()
	return nil
}

func (s *Subscriber) countResync(reason string) {
	for i, r := range reasons {
		if r == reason {
			s.resyncs[i].Add(1)
		}
	}
}

// anchorMargin: an anchor entry this close to its DropAfter may have been removed from the store
// already (by the store's clock), so the log matching check skips it.
const anchorMargin = 10 * time.Second

// anchor identifies one entry of the store's log: its sequence number, its kind and id (hashed)
// and its DropAfter.
type anchor struct {
	seq       uint64
	key       uint64
	dropAfter int64
}

// setAnchor remembers r when it is the highest-sequence entry learned so far. Writer only.
func (s *Subscriber) setAnchor(r *events.Revocation) {
	if r.Seq >= s.anchor.seq {
		s.anchor = anchor{seq: r.Seq, key: s.h.key(r.Kind, r.ID), dropAfter: r.DropAfter.UnixNano()}
	}
}

// matches reports whether recs, read after a.seq-1, start with the anchor entry.
func (a anchor) matches(h *hasher, recs []events.Revocation) bool {
	return len(recs) > 0 && recs[0].Seq == a.seq && h.key(recs[0].Kind, recs[0].ID) == a.key
}

// covers reports whether the cache already revokes everything r revokes. Writer only.
func (s *Subscriber) covers(r *events.Revocation) bool {
	drop := r.DropAfter.UnixNano()
	switch r.Kind {
	case events.KindAll:
		return s.allNB.Load() >= r.NotBefore.UnixNano() && s.allDrop >= drop
	case events.KindToken, events.KindSession:
		v, ok := s.tab.Load().get(s.h.key(r.Kind, r.ID))
		return ok && v >= drop
	case events.KindSubject:
		key := s.h.key(r.Kind, r.ID)
		v, ok := s.tab.Load().get(key)
		return ok && v >= r.NotBefore.UnixNano() && s.subjDrop[key] >= drop
	}
	return true // an unknown kind revokes nothing
}
