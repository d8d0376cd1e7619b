package chaos

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

var (
	soakFor   = flag.Duration("soak", 0, "run TestSoak for this long at full size (make soak: 10m); 0 runs the short CI version")
	soakRate  = flag.Int("soak.rate", 1000, "revocations per second of the full soak")
	soakSubs  = flag.Int("soak.subscribers", 20, "subscribers of the full soak")
	soakSlack = flag.Float64("soak.heap-growth", 1.5, "the largest heap (after GC) may be this many times the first window's")
)

// TestSoak revokes at a steady rate into many subscribers for a long time (make soak: 10 minutes,
// 1,000/s, 20 subscribers; CI: 10 s, 200/s, 5 subscribers) with revocations that expire after 6 s,
// so the live set is steady. It checks the history in 10-second windows (nothing lost, late or
// un-revoked) and the heap after GC at each window's end: it must stay flat (within
// -soak.heap-growth of the first window's) once the live set has filled up.
func TestSoak(t *testing.T) {
	dur, rate, nsubs, window := 10*time.Second, 200, 5, 2500*time.Millisecond
	if *soakFor > 0 {
		dur, rate, nsubs, window = *soakFor, *soakRate, *soakSubs, 10*time.Second
	}
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "everysec"})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	const lifetime, leeway = 5 * time.Second, time.Second
	rv, err := revoker.New(n.Connect(t), store, revoker.WithHeartbeatInterval(100*time.Millisecond),
		revoker.WithMaxTokenLifetime(lifetime), revoker.WithLeeway(leeway))
	if err != nil {
		t.Fatal(err)
	}
	heartbeats(t, rv)
	subs := make([]*subscriber.Subscriber, nsubs)
	for i := range subs {
		subs[i] = startSub(t, n.Connect(t), store, quick(subscriber.WithSweepInterval(time.Second))...)
	}

	var cur atomic.Pointer[History]
	// The short version runs in CI under -race on 2 cores, where everything is ~10× slower: it
	// holds the subscribers to 5 s instead of 2.
	windowBound := bound
	if *soakFor == 0 {
		windowBound = 5 * time.Second
	}
	newWindow := func() *History {
		h := NewHistory(windowBound)
		for i, s := range subs {
			h.Watch(fmt.Sprint("sub-", i), tokenRevoked(s))
		}
		return h
	}
	cur.Store(newWindow())
	var (
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		failed  atomic.Int64
		revoked atomic.Int64
	)
	// rate/100 revocations every 10 ms, each tick's issued concurrently (one sequential loader
	// cannot reach 1,000/s on a loaded 2-core machine: each Revoke is a Redis round trip).
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var batch sync.WaitGroup
			for range max(1, rate/100) {
				id := fmt.Sprint("soak-", i)
				i++
				batch.Go(func() {
					// DropAfter is set here, so the checker knows exactly when subscribers may
					// forget it.
					drop := time.Now().Add(lifetime + leeway)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					seq, err := rv.Revoke(ctx, events.Revocation{Kind: events.KindToken, ID: id, Reason: "soak", DropAfter: drop})
					cancel()
					if err != nil {
						failed.Add(1)
						return
					}
					revoked.Add(1)
					cur.Load().AckUntil(id, seq, drop)
				})
			}
			batch.Wait()
		}
	})

	var (
		total    Result
		heaps    []uint64
		windows  int
		deadline = time.Now().Add(dur)
	)
	for time.Now().Before(deadline) {
		time.Sleep(min(window, time.Until(deadline)))
		h := cur.Swap(newWindow())
		res := h.Verify()
		windows++
		total.Acked += res.Acked
		total.Everywhere += res.Everywhere
		total.Lost = append(total.Lost, res.Lost...)
		total.Late = append(total.Late, res.Late...)
		total.Unrevoked = append(total.Unrevoked, res.Unrevoked...)
		total.WorstLag = max(total.WorstLag, res.WorstLag)
		total.P99 = max(total.P99, res.P99)
		total.P50 = max(total.P50, res.P50)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heaps = append(heaps, ms.HeapAlloc)
		t.Logf("window %d: %v; heap %.1f MiB; live entries %d", windows, res, float64(ms.HeapAlloc)/(1<<20), subs[0].Stats().Entries["token"])
		if !res.OK() {
			break
		}
	}
	close(stop)
	wg.Wait()
	cur.Load().Verify()
	total.Subscribers = nsubs
	report(t, fmt.Sprintf("soak %v at %d/s, %d subscribers (P50/P99: worst window)", dur, rate, nsubs), total)
	if failed.Load() > 0 {
		t.Errorf("%d revocations failed with the store up", failed.Load())
	}
	// The live set fills within lifetime+leeway (6 s); compare the windows after that.
	settled := heaps[min(len(heaps)-1, int((lifetime+leeway+window-1)/window)):]
	if len(settled) >= 2 {
		first, peak := settled[0], settled[0]
		for _, hp := range settled {
			peak = max(peak, hp)
		}
		t.Logf("heap after GC: first settled window %.1f MiB, peak %.1f MiB", float64(first)/(1<<20), float64(peak)/(1<<20))
		if float64(peak) > *soakSlack*float64(first) && peak-first > 8<<20 {
			t.Errorf("heap grew from %.1f to %.1f MiB with a steady live set", float64(first)/(1<<20), float64(peak)/(1<<20))
		}
	}
}
