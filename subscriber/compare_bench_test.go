package subscriber

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/redisstore"
)

// scalingSizes are the live-entry counts of the scaling benchmarks: 5M only with
// REVOCAST_BENCH_FULL=1 (revocast bench -full), 1M not with -short.
func scalingSizes() []int {
	switch {
	case os.Getenv("REVOCAST_BENCH_FULL") != "":
		return []int{10_000, 100_000, 1_000_000, 5_000_000}
	case testing.Short():
		return []int{10_000, 100_000}
	}
	return []int{10_000, 100_000, 1_000_000}
}

// BenchmarkCheckScaling: Check over 1M distinct tokens (serial and RunParallel) as the number of
// live revocations grows, beside the floor: the same three lookups (jti, sid, sub) in a plain Go
// map of the same entries.
func BenchmarkCheckScaling(b *testing.B) {
	for _, entries := range scalingSizes() {
		s := loadedSubscriber(b, entries)
		claims := benchClaims(1<<20, entries)
		m := make(map[string]int64, entries)
		for _, r := range benchRevocations(entries) {
			m[r.ID] = r.DropAfter.UnixNano()
		}
		mapCheck := func(c *Claims) bool {
			_, a := m[c.ID]
			_, b := m[c.SessionID]
			_, d := m[c.Subject]
			return a || b || d
		}
		b.Run(fmt.Sprintf("entries=%d/revocast", entries), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = s.Check(&claims[i&(len(claims)-1)])
				i++
			}
		})
		b.Run(fmt.Sprintf("entries=%d/map", entries), func(b *testing.B) {
			b.ReportAllocs()
			i, n := 0, 0
			for b.Loop() {
				if mapCheck(&claims[i&(len(claims)-1)]) {
					n++
				}
				i++
			}
			sink = n
		})
		b.Run(fmt.Sprintf("entries=%d/revocast-parallel", entries), func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1) << 16)
				for pb.Next() {
					_ = s.Check(&claims[i&(len(claims)-1)])
					i++
				}
			})
		})
		b.Run(fmt.Sprintf("entries=%d/map-parallel", entries), func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1) << 16)
				for pb.Next() {
					_ = mapCheck(&claims[i&(len(claims)-1)])
					i++
				}
			})
		})
	}
}

// BenchmarkCheckRemote: the alternatives that ask over the network on every request, against
// Redis holding 10,000 revocations: (a) one Redis EXISTS, (b) an introspection-style HTTP call to a
// local endpoint that answers from Redis; serial and RunParallel.
func BenchmarkCheckRemote(b *testing.B) {
	c := redisBlacklist(b, 10_000)
	ctx := context.Background()
	claims := benchClaims(1<<16, 10_000)
	introspect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n, err := c.Exists(req.Context(), "bl:"+req.URL.Query().Get("jti")).Result()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"active":%t}`, n == 0)
	}))
	b.Cleanup(introspect.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	exists := func(i int) {
		if err := c.Exists(ctx, "bl:"+claims[i&(len(claims)-1)].ID).Err(); err != nil {
			b.Fatal(err)
		}
	}
	httpCall := func(i int) {
		resp, err := client.Get(introspect.URL + "/introspect?jti=" + claims[i&(len(claims)-1)].ID)
		if err != nil {
			b.Fatal(err)
		}
		var buf [64]byte
		_, _ = resp.Body.Read(buf[:])
		resp.Body.Close()
	}
	for _, alt := range []struct {
		name string
		f    func(int)
	}{{"redis-exists", exists}, {"introspection-http", httpCall}} {
		b.Run(alt.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				alt.f(i)
				i++
			}
		})
		b.Run(alt.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1) << 16)
				for pb.Next() {
					alt.f(i)
					i++
				}
			})
		})
	}
}

// BenchmarkColdStartScaling: time to ready and heap per entry as the live set grows, beside
// the store's Snapshot alone (…/raw: the entries read from Redis and decoded, not inserted
// anywhere) and the same Snapshot loaded into a plain map[string]int64.
func BenchmarkColdStartScaling(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	for _, entries := range scalingSizes() {
		store := redisstore.New(r.Client(b), redisstore.WithPrefix(fmt.Sprint("cs", entries)))
		appendBenchRevocations(b, store, entries)
		b.Run(fmt.Sprintf("entries=%d/raw", entries), func(b *testing.B) { benchSnapshotAlone(b, store, entries) })
		b.Run(fmt.Sprintf("entries=%d/map", entries), func(b *testing.B) {
			var heap float64
			for b.Loop() {
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				m := make(map[string]int64)
				if _, err := store.Snapshot(context.Background(), func(batch []events.Revocation) error {
					for i := range batch {
						m[string([]byte(batch[i].ID))] = batch[i].DropAfter.UnixNano()
					}
					return nil
				}); err != nil || len(m) != entries {
					b.Fatal(err, len(m))
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&m1)
				heap = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(entries)
				runtime.KeepAlive(m)
				b.StartTimer()
			}
			b.ReportMetric(heap, "heap-B/entry")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/start")
			b.ReportMetric(0, "ns/op")
		})
		b.Run(fmt.Sprintf("entries=%d/revocast", entries), func(b *testing.B) { benchColdStart(b, store, entries) })
		if err := r.Client(b).FlushDB(context.Background()).Err(); err != nil { // keep Redis small
			b.Fatal(err)
		}
	}
}
