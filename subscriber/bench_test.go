package subscriber

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/redisstore"
)

// benchEntries is the number of live entries of the cache benchmarks: 1M, or REVOCAST_BENCH_ENTRIES.
func benchEntries(b *testing.B) int {
	if v := os.Getenv("REVOCAST_BENCH_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// benchRevocations returns n live revocations of every kind: 45% token, 45% session, 10% subject.
func benchRevocations(n int) []events.Revocation {
	now := time.Now()
	recs := make([]events.Revocation, n)
	for i := range recs {
		r := events.Revocation{RevokedAt: now, DropAfter: now.Add(time.Hour), Reason: "logout", Origin: "issuer-1"}
		switch {
		case i%20 < 9:
			r.Kind, r.ID = events.KindToken, fmt.Sprintf("jti-%022d", i)
		case i%20 < 18:
			r.Kind, r.ID = events.KindSession, fmt.Sprintf("sid-%022d", i)
		default:
			r.Kind, r.ID, r.NotBefore = events.KindSubject, fmt.Sprintf("user-%d", i), now
		}
		recs[i] = r
	}
	return recs
}

// benchClaims returns a stream of distinct tokens: most not revoked, about 1 in 16 revoked by
// token, session or subject.
func benchClaims(n, entries int) []Claims {
	now := time.Now()
	cs := make([]Claims, n)
	for i := range cs {
		c := Claims{ID: fmt.Sprintf("jti-x%021d", i), SessionID: fmt.Sprintf("sid-x%021d", i),
			Subject: fmt.Sprintf("user-x%d", i), IssuedAt: now.Add(-time.Minute)}
		if i%16 == 0 {
			j := (i * 7919) % entries
			switch j % 20 {
			case 0, 1, 2, 3, 4, 5, 6, 7, 8:
				c.ID = fmt.Sprintf("jti-%022d", j)
			case 9, 10, 11, 12, 13, 14, 15, 16, 17:
				c.SessionID = fmt.Sprintf("sid-%022d", j)
			default:
				c.Subject = fmt.Sprintf("user-%d", j)
			}
		}
		cs[i] = c
	}
	return cs
}

// loadedSubscriber returns a started subscriber whose cache holds entries live revocations, fed
// straight into the cache (no store needed for the Check benchmarks).
func loadedSubscriber(b *testing.B, entries int) *Subscriber {
	s, err := New(nil, nopSource{})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range benchRevocations(entries) {
		s.insert(&r)
	}
	return s
}

var sink int

type nopSource struct{}

func (nopSource) Snapshot(context.Context, func([]events.Revocation) error) (uint64, error) {
	return 0, nil
}
func (nopSource) After(context.Context, uint64, int) ([]events.Revocation, uint64, error) {
	return nil, 0, nil
}

func BenchmarkCheck(b *testing.B) {
	entries := benchEntries(b)
	s := loadedSubscriber(b, entries)
	claims := benchClaims(1<<20, entries)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		revoked, i := 0, 0
		for b.Loop() {
			if s.Check(&claims[i&(len(claims)-1)]) != nil {
				revoked++
			}
			i++
		}
		b.ReportMetric(float64(revoked)/float64(i), "revoked/op")
	})
	// The floor under "serial": the same walk over the same claims, reading what Check reads (the
	// three ids' bytes and iat) without any lookup.
	b.Run("serial-read-claims-only", func(b *testing.B) {
		b.ReportAllocs()
		sum, i := 0, 0
		for b.Loop() {
			c := &claims[i&(len(claims)-1)]
			sum += int(c.ID[len(c.ID)-1]) + int(c.SessionID[len(c.SessionID)-1]) + int(c.Subject[len(c.Subject)-1]) + int(c.IssuedAt.UnixNano())
			i++
		}
		sink = sum
	})
	// The same with a ring of 4,096 distinct tokens that stays in cache, to separate the cost of
	// reading a million claims from the cost of Check itself.
	b.Run("serial-small-ring", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = s.Check(&claims[i&4095])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
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
}

// BenchmarkCheckRedisExists is the baseline of BenchmarkCheck: the same question asked of Redis,
// one EXISTS per check (a Redis-backed blacklist without the subscriber's cache).
func BenchmarkCheckRedisExists(b *testing.B) {
	c := redisBlacklist(b, 10_000)
	ctx := context.Background()
	claims := benchClaims(1<<16, 10_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Exists(ctx, "bl:"+claims[i&(len(claims)-1)].ID).Err(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// redisBlacklist starts a Redis holding the first n benchmark revocations as keys "bl:<id>": a
// Redis-backed blacklist, the alternative the subscriber's cache replaces.
func redisBlacklist(b *testing.B, n int) *redis.Client {
	c := testenv.StartRedis(b, testenv.RedisOptions{}).Client(b)
	ctx := context.Background()
	pipe := c.Pipeline()
	for _, rec := range benchRevocations(n) {
		pipe.Set(ctx, "bl:"+rec.ID, 1, time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkColdStart measures Start to ready with the live entries in Redis, and the subscriber's
// heap per live entry; BenchmarkColdStart/raw is the baseline: the same snapshot read from the
// store without applying it.
func BenchmarkColdStart(b *testing.B) {
	entries := benchEntries(b)
	store := redisstore.New(testenv.StartRedis(b, testenv.RedisOptions{}).Client(b))
	appendBenchRevocations(b, store, entries)
	b.Run("raw", func(b *testing.B) { benchSnapshotAlone(b, store, entries) })
	b.Run("subscriber", func(b *testing.B) { benchColdStart(b, store, entries) })
}

// appendBenchRevocations appends the first n benchmark revocations to store, 10,000 per Append.
func appendBenchRevocations(b *testing.B, store *redisstore.Store, n int) {
	recs := benchRevocations(n)
	for i := 0; i < len(recs); i += 10_000 {
		if err := store.Append(context.Background(), recs[i:min(i+10_000, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSnapshotAlone reads and decodes store's snapshot of entries live revocations, inserting
// them nowhere, and reports seconds per snapshot.
func benchSnapshotAlone(b *testing.B, store *redisstore.Store, entries int) {
	for b.Loop() {
		n := 0
		if _, err := store.Snapshot(context.Background(), func(batch []events.Revocation) error {
			n += len(batch)
			return nil
		}); err != nil || n != entries {
			b.Fatal(err, n)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/start")
	b.ReportMetric(0, "ns/op")
}

// benchColdStart starts a subscriber on store (entries live revocations) until ready, checks it
// loaded them all, and reports seconds to ready and heap bytes per live entry.
func benchColdStart(b *testing.B, store *redisstore.Store, entries int) {
	var heap float64
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s, err := New(nil, store)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(entries)
		if got := s.Stats().Entries; got["token"]+got["session"]+got["subject"] != int64(entries) {
			b.Fatalf("loaded %v, want %d entries", got, entries)
		}
		_ = s.Close()
		runtime.KeepAlive(s)
		b.StartTimer()
	}
	b.ReportMetric(heap, "heap-B/entry")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/start")
	b.ReportMetric(0, "ns/op")
}
