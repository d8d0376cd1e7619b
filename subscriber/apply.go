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

// loop is the apply goroutine: the only writer of the cache after Start. lastSweep is the clock
// reading Start took before it reported ready, so an expiry due after that is never skipped.
func (s *Subscriber) loop(lastSweep time.Time) {
	defer s.wg.Done()
	every := min(s.o.gapWait, s.o.pollInterval, s.o.heartbeatBound) / 2
	every = max(5*time.Millisecond, min(every, 250*time.Millisecond))
	tick := time.NewTicker(every)
	defer tick.Stop()

	// Protocol timers use the monotonic clock; the injected clock drives expiry and freshness.
	var (
		lastHeard  = time.Now()
		lastPoll   = time.Now()
		reconnects = s.reconnects()
		dropped    = s.dropped()
		retryAt    time.Time // after a failed catch-up, not before this
		gapReason  = ReasonGap
	)
	catchUp := func(reason string) {
		if time.Now().Before(retryAt) {
			return
		}
		if err := s.catchUp(reason); err != nil {
			retryAt = time.Now().Add(s.o.pollInterval)
			return
		}
		retryAt = time.Time{}
		lastPoll = time.Now()
	}
	for {
		select {
		case <-s.closing:
			return
		case in := <-s.inbox:
			lastHeard = time.Now()
			if in.hb != nil {
				if in.hb.Head > s.headSeen.Load() {
					s.headSeen.Store(in.hb.Head)
				}
				if in.hb.Head <= s.applied.Load() {
					s.markFresh()
				} else if s.gapSince.IsZero() {
					s.gapSince, gapReason = time.Now(), ReasonHeartbeatAhead
				}
				continue
			}
			if s.applyEvent(&in.rev) && s.gapSince.IsZero() {
				s.gapSince, gapReason = time.Now(), ReasonGap
			}
			if len(s.received) > maxReceived {
				catchUp(ReasonGap)
			}
			continue
		case <-tick.C:
		}
		now := time.Now()
		if r := s.reconnects(); r != reconnects {
			reconnects = r
			retryAt = time.Time{}
			catchUp(ReasonReconnect)
		}
		if d := s.dropped(); d != dropped {
			dropped = d
			retryAt = time.Time{}
			catchUp(ReasonSlowConsumer)
		}
		if !s.gapSince.IsZero() && now.Sub(s.gapSince) >= s.o.gapWait {
			catchUp(gapReason)
		}
		// Poll the store every poll interval while NATS is disconnected (or absent), and while it
		// is connected but silent for longer than the heartbeat bound (a half-open connection).
		disconnected := s.nc == nil || !s.nc.IsConnected()
		if (disconnected || now.Sub(lastHeard) >= s.o.heartbeatBound) && now.Sub(lastPoll) >= s.o.pollInterval {
			reason := ReasonSilence
			if disconnected {
				reason = ReasonPoll
			}
			lastPoll = now
			catchUp(reason)
		}
		if c := s.o.clock(); c.Sub(lastSweep) >= s.o.sweepInterval {
			lastSweep = c
			s.sweep(c)
			s.sweeps.Add(1)
		}
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
		s.duplicates.Add(1)
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
		s.gapSince = time.Now()
	}
}

// catchUp reads every entry after the applied sequence from the store and applies it.
func (s *Subscriber) catchUp(reason string) error {
	for i, r := range reasons {
		if r == reason {
			s.resyncs[i].Add(1)
		}
	}
	ctx, cancel := context.WithTimeout(s.life, 10*time.Second) // Close cancels a catch-up in progress
	defer cancel()
	for {
		applied := s.applied.Load()
		recs, head, err := s.src.After(ctx, applied, s.o.catchUpBatch)
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
		s.wg.Wait() // Start (if running) and the apply goroutine
		s.unsubscribe()
	})
	return nil
}
