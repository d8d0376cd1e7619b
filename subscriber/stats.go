package subscriber

import (
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/stats"
)

// Stats are a snapshot of a Subscriber's state and counters.
type Stats struct {
	// Entries counts the live entries in the cache by kind ("token", "session", "subject", "all").
	Entries map[string]int64
	// Applied is the sequence up to which every revocation is applied; Head the highest seen.
	Applied, Head uint64
	// LastFresh is when the subscriber was last proven up to date.
	LastFresh time.Time
	// Fresh reports whether LastFresh is within the freshness bound.
	Fresh bool
	// Resyncs counts catch-ups from the store by reason.
	Resyncs map[string]uint64
	// AppliedEvents counts revocations applied after Start (from NATS or catch-up).
	AppliedEvents uint64
	// Duplicates counts events received again; Invalid counts events dropped as malformed;
	// Unverified counts events and heartbeats dropped for their signature (WithTrustedKeys).
	Duplicates, Invalid, Unverified uint64
	// Dropped counts messages NATS dropped for this subscription (slow consumer).
	Dropped int
	// Sweeps counts expiry sweeps run.
	Sweeps uint64
	// Propagation is the distribution of revoked_at → applied for every revocation applied after
	// Start (from NATS or a catch-up; not the cold-start snapshot), by the subscriber's clock: the
	// end-to-end lag of the revocation path, clock skew between hosts included.
	Propagation stats.HistogramSnapshot
	// StatusErrors counts status requests that could not be answered.
	StatusErrors uint64
	// Service and Instance name this subscriber in status replies.
	Service, Instance string
}

// Stats returns the current state and counters. Safe for concurrent use.
func (s *Subscriber) Stats() Stats {
	st := Stats{
		Entries:       map[string]int64{},
		Applied:       s.applied.Load(),
		Head:          s.headSeen.Load(),
		LastFresh:     s.LastFresh(),
		Fresh:         s.Fresh(),
		Resyncs:       map[string]uint64{},
		AppliedEvents: s.appliedCount.Load(),
		Duplicates:    s.duplicates.Load(),
		Invalid:       s.invalid.Load(),
		Unverified:    s.unverified.Load(),
		Dropped:       s.dropped(),
		Sweeps:        s.sweeps.Load(),
		Propagation:   s.lag.Snapshot(),
		StatusErrors:  s.statusErrs.Load(),
		Service:       s.o.service,
		Instance:      s.instance,
	}
	for k := events.KindToken; k <= events.KindAll; k++ {
		st.Entries[k.String()] = s.byKind[k].Load()
	}
	for i, r := range reasons {
		st.Resyncs[r] = s.resyncs[i].Load()
	}
	return st
}
