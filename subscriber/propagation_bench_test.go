package subscriber

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

// fanouts are the subscriber counts of BenchmarkPropagation; 500 only without -short.
func fanouts() []int {
	if testing.Short() {
		return []int{1, 10, 100}
	}
	return []int{1, 10, 100, 500}
}

// latencies collects one duration per (event, receiver), and per event the slowest receiver (the
// moment every subscriber rejects the token), and reports percentiles of both.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	last []time.Duration
	cur  time.Duration // slowest receiver of the current event
}

func (l *latencies) add(d time.Duration) {
	if d < 0 {
		d = 0 // applied before Revoke returned: the publish precedes the return
	}
	l.mu.Lock()
	l.d = append(l.d, d)
	l.cur = max(l.cur, d)
	l.mu.Unlock()
}

// next closes the current event (all its receivers have reported).
func (l *latencies) next() {
	l.mu.Lock()
	l.last = append(l.last, l.cur)
	l.cur = 0
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	pct := func(d []time.Duration, q float64) float64 {
		slices.Sort(d)
		return float64(d[int(q*float64(len(d)-1))].Microseconds())
	}
	b.ReportMetric(pct(l.d, 0.50), "p50-µs")
	b.ReportMetric(pct(l.d, 0.99), "p99-µs")
	if len(l.last) > 0 {
		b.ReportMetric(pct(l.last, 0.50), "all-p50-µs")
		b.ReportMetric(pct(l.last, 0.99), "all-p99-µs")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPropagation measures, for each revocation, the time from Revoke returning to the event
// being applied in each of 1, 10, 100 and 500 subscribers on separate connections (p50/p99 over
// every subscriber, and all-p50/all-p99 until the last one); …/raw is the baseline: the same
// payload published on NATS and received by as many plain subscriptions.
func BenchmarkPropagation(b *testing.B) {
	n := testenv.StartNATS(b, testenv.NATSOptions{})
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	store := redisstore.New(r.Client(b))
	for _, fanout := range fanouts() {
		b.Run(fmt.Sprintf("subscribers=%d", fanout), func(b *testing.B) { benchPropagation(b, n, store, fanout) })
	}
}

func benchPropagation(b *testing.B, n *testenv.NATS, store *redisstore.Store, fanout int) {
	b.Run("raw", func(b *testing.B) {
		var (
			lat  latencies
			sent time.Time
			mu   sync.Mutex
			wg   sync.WaitGroup
		)
		for i := 0; i < fanout; i++ {
			nc := n.Connect(b)
			if _, err := nc.Subscribe("raw.rev", func(*nats.Msg) {
				mu.Lock()
				t := sent
				mu.Unlock()
				lat.add(time.Since(t))
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		pub := n.Connect(b)
		now := time.Now()
		rev := events.Revocation{Seq: 1, Kind: events.KindToken, ID: "jti-raw-0000000000000000", RevokedAt: now, DropAfter: now.Add(time.Hour), Reason: "logout", Origin: "issuer-1"}
		payload := rev.AppendJSON(nil)
		for b.Loop() {
			wg.Add(fanout)
			mu.Lock()
			sent = time.Now()
			mu.Unlock()
			if err := pub.Publish("raw.rev", payload); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
			lat.next()
		}
		lat.report(b)
	})

	b.Run("subscriber", func(b *testing.B) {
		var (
			lat      latencies
			mu       sync.Mutex
			returned = map[string]time.Time{}
			wg       sync.WaitGroup
		)
		onRevoke := func(rev events.Revocation) {
			at := time.Now()
			mu.Lock()
			t := returned[rev.ID]
			mu.Unlock()
			if t.IsZero() {
				t = at // applied before Revoke returned
			}
			lat.add(at.Sub(t))
			wg.Done()
		}
		for i := 0; i < fanout; i++ {
			s, err := New(n.Connect(b), store, WithOnRevoke(onRevoke))
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
		}
		rv, err := revoker.New(n.Connect(b), store)
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			id := fmt.Sprintf("jti-prop-%016d", i)
			i++
			wg.Add(fanout)
			if _, err := rv.Revoke(context.Background(), events.Revocation{Kind: events.KindToken, ID: id}); err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			returned[id] = time.Now()
			mu.Unlock()
			wg.Wait()
			lat.next()
		}
		lat.report(b)
	})
}
