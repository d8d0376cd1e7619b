// Package stats holds the lock-free latency histogram the revocast packages record into and export
// through their Stats methods. It depends on nothing but the standard library, so the library
// packages stay free of any metrics system; package metrics turns the snapshots into Prometheus
// metrics.
package stats

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// LatencyBounds are the default bucket upper bounds: 100µs to 60s, about three per decade. They
// suit both in-process latencies (a JWT verification, a store append) and propagation lags across
// the network and through a store catch-up.
var LatencyBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, 60 * time.Second,
}

// Histogram counts durations into fixed buckets. Observe is lock-free and allocation-free, safe for
// concurrent use; the zero value is not usable, build one with NewHistogram.
type Histogram struct {
	bounds []time.Duration
	counts []atomic.Uint64 // len(bounds)+1: the last bucket is +Inf
	sum    atomic.Int64    // nanoseconds
}

// NewHistogram returns a Histogram with the given bucket upper bounds (inclusive), which must be
// increasing; with none it uses LatencyBounds.
func NewHistogram(bounds ...time.Duration) *Histogram {
	if len(bounds) == 0 {
		bounds = LatencyBounds
	}
	if !sort.SliceIsSorted(bounds, func(i, j int) bool { return bounds[i] < bounds[j] }) {
		panic("stats: histogram bounds must be increasing")
	}
	return &Histogram{bounds: append([]time.Duration(nil), bounds...), counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records d. A negative d (a clock stepped back, or skew between two hosts) counts as 0.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := sort.Search(len(h.bounds), func(i int) bool { return d <= h.bounds[i] })
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the current counts. Counts taken while Observe runs may be one observation
// apart from Sum; each field is exact on its own.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// HistogramSnapshot is a Histogram's state at one moment.
type HistogramSnapshot struct {
	// Bounds are the buckets' inclusive upper bounds; shared, do not modify.
	Bounds []time.Duration
	// Counts[i] counts observations in (Bounds[i-1], Bounds[i]]; the last one those above every
	// bound.
	Counts []uint64
	// Count is the number of observations, Sum their total.
	Count uint64
	Sum   time.Duration
}

// Quantile returns an upper estimate of the q-quantile (0 < q ≤ 1): the upper bound of the bucket
// holding it, or +Inf as math.MaxInt64 when it is above every bound. It returns 0 when there are
// no observations.
func (s HistogramSnapshot) Quantile(q float64) time.Duration {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			if i == len(s.Bounds) {
				return math.MaxInt64
			}
			return s.Bounds[i]
		}
	}
	return math.MaxInt64
}
