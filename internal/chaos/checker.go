// Package chaos is revocast's fault-injection harness: a history checker in the spirit of Jepsen
// that the scenario tests (scenarios_test.go) and the soak test end with.
//
// A History records every acknowledged revocation (the moment Revoke, or a logout answered 204,
// returned) and watches every live subscriber through its own Check, the ground truth of what a
// request would see: an Observer polls each pending revocation until the subscriber rejects it
// and records when, and keeps re-checking the ones already seen so that an un-revocation is
// caught. Verify then says whether every acknowledged revocation reached every live subscriber
// within the freshness bound, whether anything was ever un-revoked, and what the worst lag was.
package chaos

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// pollEvery is how often an Observer checks its pending revocations; lags are measured to within
// it.
const pollEvery = 2 * time.Millisecond

// History is the record of one scenario. Safe for concurrent use.
type History struct {
	bound time.Duration

	mu   sync.Mutex
	acks []ack
	obs  []*Observer
}

type ack struct {
	id    string
	seq   uint64
	at    time.Time
	until time.Time // the revocation's DropAfter: zero for "forever"
}

// NewHistory returns a History whose revocations must reach each live subscriber within bound.
func NewHistory(bound time.Duration) *History { return &History{bound: bound} }

// Ack records that the revocation of id (with its sequence number, 0 if unknown) was acknowledged
// now: the caller was told it is durable.
func (h *History) Ack(id string, seq uint64) { h.AckUntil(id, seq, time.Time{}) }

// AckUntil is Ack for a revocation that subscribers may forget at until (its DropAfter): after
// that a subscriber accepting the token is not an un-revocation.
func (h *History) AckUntil(id string, seq uint64, until time.Time) {
	now := time.Now()
	h.mu.Lock()
	h.acks = append(h.acks, ack{id: id, seq: seq, at: now, until: until})
	h.mu.Unlock()
}

// Acked returns the number of acknowledged revocations.
func (h *History) Acked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acks)
}

func (h *History) snapshot(from int) []ack {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.acks[min(from, len(h.acks)):len(h.acks):len(h.acks)]
}

// Observer watches one subscriber. Stop it when the subscriber goes away (killed, closed): it owes
// nothing after that.
type Observer struct {
	name    string
	revoked func(id string) bool
	start   time.Time

	mu        sync.Mutex
	seen      []time.Time // by ack index; zero while pending
	unrevoked []string
	stopped   time.Time
	known     int // acks considered so far
	pending   int // of those, not yet seen revoked

	stop chan struct{}
	done chan struct{}
}

// Watch starts observing a subscriber through revoked, which reports whether it rejects the token
// (or session) with that id. Observation starts now: for a revocation acknowledged before, the lag
// counts from now (a subscriber starting up must have it by the time it is ready).
func (h *History) Watch(name string, revoked func(id string) bool) *Observer {
	o := &Observer{name: name, revoked: revoked, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	h.mu.Lock()
	h.obs = append(h.obs, o)
	h.mu.Unlock()
	go o.run(h)
	return o
}

// Stop ends the observation (idempotent) and waits for its goroutine.
func (o *Observer) Stop() {
	o.mu.Lock()
	if o.stopped.IsZero() {
		o.stopped = time.Now()
		close(o.stop)
	}
	o.mu.Unlock()
	<-o.done
}

func (o *Observer) run(h *History) {
	defer close(o.done)
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	var (
		pending []int // ack indexes not yet seen revoked
		known   int   // acks taken into pending so far
		recheck int   // rolling position among the seen ones
	)
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		acks := h.snapshot(0)
		for ; known < len(acks); known++ {
			pending = append(pending, known)
		}
		now := time.Now()
		o.mu.Lock()
		for len(o.seen) < len(acks) {
			o.seen = append(o.seen, time.Time{})
		}
		o.mu.Unlock()
		kept := pending[:0]
		for _, i := range pending {
			if o.revoked(acks[i].id) {
				o.mu.Lock()
				o.seen[i] = now
				o.mu.Unlock()
				continue
			}
			kept = append(kept, i)
		}
		pending = kept
		o.mu.Lock()
		o.known, o.pending = known, len(pending)
		o.mu.Unlock()
		// Re-check up to 256 revocations already seen: once revoked, always revoked.
		for n := 0; n < 256 && len(acks) > 0; n++ {
			recheck = (recheck + 1) % len(acks)
			o.mu.Lock()
			seen := !o.seen[recheck].IsZero()
			o.mu.Unlock()
			a := acks[recheck]
			live := a.until.IsZero() || time.Now().Add(100*time.Millisecond).Before(a.until)
			if seen && live && !o.revoked(a.id) && (a.until.IsZero() || time.Now().Before(a.until)) {
				o.mu.Lock()
				if !slices.Contains(o.unrevoked, acks[recheck].id) {
					o.unrevoked = append(o.unrevoked, acks[recheck].id)
				}
				o.mu.Unlock()
			}
		}
	}
}

// Result is the checker's verdict.
type Result struct {
	Acked       int           // revocations acknowledged
	Subscribers int           // subscribers observed
	Everywhere  int           // acknowledged revocations applied by every subscriber live for them
	Lost        []string      // "subscriber: id" never applied while the subscriber lived
	Late        []string      // "subscriber: id (lag)" applied after the bound
	Unrevoked   []string      // "subscriber: id" revoked, then accepted again
	WorstLag    time.Duration // the largest ack → applied time over every subscriber
	P50, P99    time.Duration // lag percentiles over every (revocation, subscriber) pair
}

// OK reports whether nothing was lost, late or un-revoked.
func (r Result) OK() bool { return len(r.Lost) == 0 && len(r.Late) == 0 && len(r.Unrevoked) == 0 }

// String is one line for the logs and docs/RELIABILITY.md.
func (r Result) String() string {
	s := fmt.Sprintf("acknowledged %d, applied everywhere %d, subscribers %d, lag p50 %v p99 %v worst %v",
		r.Acked, r.Everywhere, r.Subscribers, round(r.P50), round(r.P99), round(r.WorstLag))
	for _, l := range []struct {
		name string
		list []string
	}{{"LOST", r.Lost}, {"LATE", r.Late}, {"UNREVOKED", r.Unrevoked}} {
		if len(l.list) > 0 {
			s += fmt.Sprintf("; %s %d: %s", l.name, len(l.list), strings.Join(l.list[:min(5, len(l.list))], ", "))
		}
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Verify waits until every acknowledged revocation was seen by every live observer, or until the
// bound has passed since the last acknowledgement, then stops every observer and returns the
// verdict. An observer owes a revocation if it was still observing a bound after the
// acknowledgement; the lag counts from the later of the acknowledgement and the observer's start.
func (h *History) Verify() Result {
	acks := h.snapshot(0)
	var last time.Time
	if len(acks) > 0 {
		last = acks[len(acks)-1].at
	}
	deadline := later(last, time.Now()).Add(h.bound + 2*pollEvery)
	h.mu.Lock()
	obs := slices.Clone(h.obs)
	h.mu.Unlock()
	for time.Now().Before(deadline) && !h.allSeen(acks, obs) {
		time.Sleep(pollEvery)
	}
	time.Sleep(5 * pollEvery)                // a last round of re-checks
	stoppedAt := make([]time.Time, len(obs)) // by the scenario (killed), not by Verify
	for i, o := range obs {
		o.mu.Lock()
		stoppedAt[i] = o.stopped
		o.mu.Unlock()
		o.Stop()
	}
	res := Result{Acked: len(acks), Subscribers: len(obs)}
	var lags []time.Duration
	everywhere := make([]bool, len(acks))
	for i := range everywhere {
		everywhere[i] = true
	}
	for oi, o := range obs {
		o.mu.Lock()
		for i, a := range acks {
			if !owes(a, h.bound, stoppedAt[oi]) {
				continue
			}
			var seen time.Time
			if i < len(o.seen) {
				seen = o.seen[i]
			}
			if seen.IsZero() {
				res.Lost = append(res.Lost, o.name+": "+a.id)
				everywhere[i] = false
				continue
			}
			lag := max(seen.Sub(later(a.at, o.start)), 0)
			lags = append(lags, lag)
			res.WorstLag = max(res.WorstLag, lag)
			if lag > h.bound {
				res.Late = append(res.Late, fmt.Sprintf("%s: %s (%v)", o.name, a.id, round(lag)))
			}
		}
		for _, id := range o.unrevoked {
			res.Unrevoked = append(res.Unrevoked, o.name+": "+id)
		}
		o.mu.Unlock()
	}
	for _, e := range everywhere {
		if e {
			res.Everywhere++
		}
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		res.P50 = lags[len(lags)/2]
		res.P99 = lags[min(len(lags)-1, len(lags)*99/100)]
	}
	return res
}

// owes reports whether an observer stopped at stopped (zero: still observing) must have seen a:
// it lived for the whole bound after a was acknowledged.
func owes(a ack, bound time.Duration, stopped time.Time) bool {
	return stopped.IsZero() || a.at.Add(bound).Before(stopped)
}

func (h *History) allSeen(acks []ack, obs []*Observer) bool {
	for _, o := range obs {
		o.mu.Lock()
		done := !o.stopped.IsZero() || o.known >= len(acks) && o.pending == 0
		o.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
