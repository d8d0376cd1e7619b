package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/redisstore"
)

// benchEntries is the size of the log the snapshot and memory benchmarks build: 100,000 by default
// (to keep make bench quick), REVOCAST_BENCH_ENTRIES=1000000 for the cold-start target.
func benchEntries(b *testing.B) int {
	if v := os.Getenv("REVOCAST_BENCH_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("REVOCAST_BENCH_ENTRIES=%q", v)
		}
		return n
	}
	return 100_000
}

// realistic returns a token revocation like the issuer makes: a 22-character jti (128 random bits,
// base64url), reason logout, origin issuer-1, five minutes plus leeway to live.
func realistic(now time.Time) events.Revocation {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return events.Revocation{
		Kind:      events.KindToken,
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		RevokedAt: now,
		DropAfter: now.Add(5*time.Minute + 30*time.Second),
		Reason:    "logout",
		Origin:    "issuer-1",
	}
}

// fill appends n realistic entries, live for an hour of the real clock, in batches of 1000.
func fill(b *testing.B, s *redisstore.Store, n int) {
	b.Helper()
	ctx := context.Background()
	batch := make([]events.Revocation, 0, 1000)
	now := time.Now().Add(time.Hour)
	for n > 0 {
		batch = batch[:0]
		for i := 0; i < 1000 && i < n; i++ {
			batch = append(batch, realistic(now))
		}
		if err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n -= len(batch)
	}
}

// BenchmarkAppend measures Append against a local redis-server without AOF (the network round trip
// and the script, not the disk): one revocation per call, and 1000 per call.
func BenchmarkAppend(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	s := redisstore.New(r.Client(b))
	ctx := context.Background()
	for _, size := range []int{1, 1000} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			now := time.Now()
			recs := make([]events.Revocation, size)
			for i := range recs {
				recs[i] = realistic(now)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for i := range recs {
					recs[i].RevokedAt = now.Add(time.Duration(n)) // distinct entries, no duplicates
					n++
				}
				if err := s.Append(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "revocations/s")
		})
	}
}

// BenchmarkSnapshot reads a log of benchEntries entries: Snapshot (decoding, with the next page
// prefetched) beside Raw, the same ZRANGE pages read one after the other and not decoded. For the
// cold-start target run it with REVOCAST_BENCH_ENTRIES=1000000.
func BenchmarkSnapshot(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	client := r.Client(b)
	s := redisstore.New(client)
	n := benchEntries(b)
	fill(b, s, n)
	ctx := context.Background()

	b.Run("Snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got := 0
			head, err := s.Snapshot(ctx, func(batch []events.Revocation) error {
				got += len(batch)
				return nil
			})
			if err != nil || got != n || head != uint64(n) {
				b.Fatalf("Snapshot: %d entries, head %d, %v; want %d", got, head, err, n)
			}
		}
		report(b, n)
	})
	b.Run("Raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got := 0
			for last := "0"; ; {
				ms, err := client.ZRangeArgs(ctx, redis.ZRangeArgs{
					Key: "{revocast}:log", Start: "(" + last, Stop: strconv.Itoa(n),
					ByScore: true, Count: redisstore.DefaultBatchSize,
				}).Result()
				if err != nil {
					b.Fatal(err)
				}
				got += len(ms)
				if len(ms) < redisstore.DefaultBatchSize {
					break
				}
				// The next page starts after the last member's sequence: {"v":1,"seq":N,...
				m := strings.TrimPrefix(ms[len(ms)-1], `{"v":1,"seq":`)
				last = m[:strings.IndexByte(m, ',')]
			}
			if got != n {
				b.Fatalf("raw read %d entries, want %d", got, n)
			}
		}
		report(b, n)
	})
}

func report(b *testing.B, n int) {
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/per, "entries/s")
	b.ReportMetric(per*1e9/float64(n), "ns/entry")
}

// BenchmarkMemory measures what a realistic entry costs in Redis: used_memory grown by appending
// benchEntries entries (redis-B/entry), and MEMORY USAGE of the log and expiry sets. The loop body
// reads MEMORY USAGE of the log, so the benchmark's ns/op is that command's cost.
func BenchmarkMemory(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	client := r.Client(b)
	ctx := context.Background()
	s := redisstore.New(client)
	n := benchEntries(b)
	before := usedMemory(b, client)
	fill(b, s, n)
	after := usedMemory(b, client)

	var logBytes int64
	for b.Loop() {
		var err error
		if logBytes, err = client.MemoryUsage(ctx, "{revocast}:log", 0).Result(); err != nil {
			b.Fatal(err)
		}
	}
	expBytes, err := client.MemoryUsage(ctx, "{revocast}:exp", 0).Result()
	if err != nil {
		b.Fatal(err)
	}
	sample := realistic(time.Now())
	sample.Seq = uint64(n)
	b.ReportMetric(float64(len(sample.AppendJSON(nil))), "member-B")
	b.ReportMetric(float64(after-before)/float64(n), "redis-B/entry")
	b.ReportMetric(float64(logBytes)/float64(n), "log-B/entry")
	b.ReportMetric(float64(expBytes)/float64(n), "exp-B/entry")
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}
