package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/subscriber"
)

// full selects the full-size scenarios (NATS down 30 s, 100k burst, ...): `go test ./internal/chaos -chaos.full` (the package before the flag)
// or REVOCAST_FULL=1. CI runs the reduced sizes.
var full = flag.Bool("chaos.full", os.Getenv("REVOCAST_FULL") != "", "run the scenarios at full size")

// size returns the full-size value when -chaos.full is set, else the reduced one.
func size[T any](reduced, fullSize T) T {
	if *full {
		return fullSize
	}
	return reduced
}

// report records a scenario's verdict in the test log and, when REVOCAST_CHAOS_REPORT names a
// file, appends it there as a table row for docs/RELIABILITY.md; it fails the test unless the
// history is clean.
func report(t *testing.T, name string, r Result) {
	t.Helper()
	t.Logf("%s: %v", name, r)
	if f := os.Getenv("REVOCAST_CHAOS_REPORT"); f != "" {
		fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(fh, "| %s | %d | %d | %d | %v | %v | %v | %s |\n", name, r.Acked, r.Everywhere, r.Subscribers,
				round(r.P50), round(r.P99), round(r.WorstLag), verdict(r))
			fh.Close()
		}
	}
	if !r.OK() || r.Acked == 0 {
		t.Fatalf("%s: history check failed: %v", name, r)
	}
}

func verdict(r Result) string {
	if r.OK() {
		return "ok"
	}
	return fmt.Sprintf("%d lost, %d late, %d un-revoked", len(r.Lost), len(r.Late), len(r.Unrevoked))
}

// tokenRevoked returns a check of sub for token revocations by jti, and session ones for ids
// written "sid:<id>".
func tokenRevoked(sub *subscriber.Subscriber) func(string) bool {
	return func(id string) bool {
		c := &subscriber.Claims{ID: id, SessionID: "none", Subject: "none", IssuedAt: time.Now()}
		if sid, ok := strings.CutPrefix(id, "sid:"); ok {
			c = &subscriber.Claims{ID: "none", SessionID: sid, Subject: "none", IssuedAt: time.Now()}
		}
		return errors.Is(sub.Check(c), subscriber.ErrRevoked)
	}
}

// startSub starts a subscriber on nc and src (retrying until ready or 60 s) and closes it at the
// end of the test.
func startSub(t *testing.T, nc *nats.Conn, src subscriber.Source, opts ...subscriber.Option) *subscriber.Subscriber {
	t.Helper()
	s, err := subscriber.New(nc, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// quick are the subscriber options of the scenarios: a freshness protocol scaled down so that
// faults show within a second (heartbeats every 100 ms from the revoker).
func quick(opts ...subscriber.Option) []subscriber.Option {
	return append([]subscriber.Option{subscriber.WithHeartbeatBound(400 * time.Millisecond),
		subscriber.WithPollInterval(100 * time.Millisecond), subscriber.WithFreshnessBound(time.Second)}, opts...)
}

// bound is the freshness bound the checker holds the quick subscribers to: silence detection
// (400 ms) plus two polls, plus scheduling slack on a loaded 2-core machine.
const bound = 2 * time.Second

// heartbeats runs rv's heartbeat loop until the test ends.
func heartbeats(t *testing.T, rv *revoker.Revoker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// load revokes tokens named prefix-N at about rate per second until stop is called, acking each
// revocation the revoker reported durable. Failed ones (the store down) are counted, not acked.
type load struct {
	acked, failed atomic.Int64
	stopc         chan struct{}
	wg            sync.WaitGroup
}

func startLoad(h *History, rv *revoker.Revoker, prefix string, rate int) *load {
	l := &load{stopc: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.stopc:
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("%s-%d", prefix, i)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			seq, err := rv.Revoke(ctx, events.Revocation{Kind: events.KindToken, ID: id, Reason: "chaos"})
			cancel()
			if err != nil {
				l.failed.Add(1)
				continue
			}
			h.Ack(id, seq)
			l.acked.Add(1)
		}
	}()
	return l
}

func (l *load) stop() { close(l.stopc); l.wg.Wait() }
