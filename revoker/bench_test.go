package revoker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

// benchEnv starts redis (AOF off) and NATS for a benchmark.
func benchEnv(b *testing.B) *env {
	b.Helper()
	n := testenv.StartNATS(b, testenv.NATSOptions{})
	rd := testenv.StartRedis(b, testenv.RedisOptions{})
	return &env{nats: n, nc: n.Connect(b), store: redisstore.New(rd.Client(b))}
}

// BenchmarkRevoke measures one Revoke (append to Redis, then publish) beside its parts: the raw
// store Append of one record and the raw NATS publish of one encoded event.
func BenchmarkRevoke(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	r := mustNew(b, e.nc, e.store)
	b.Run("revoker", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := r.Revoke(ctx, events.Revocation{Kind: events.KindToken, ID: fmt.Sprintf("r-%d", i)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=store-append", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		rec := make([]events.Revocation, 1)
		for i := 0; b.Loop(); i++ {
			rec[0] = events.Revocation{Kind: events.KindToken, ID: fmt.Sprintf("s-%d", i), RevokedAt: now, DropAfter: now.Add(time.Hour)}
			if err := e.store.Append(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=nats-publish", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		subj := events.RevocationSubject(events.DefaultPrefix)
		var buf []byte
		for i := 0; b.Loop(); i++ {
			rec := events.Revocation{Seq: uint64(i + 1), Kind: events.KindToken, ID: "n-1", RevokedAt: now, DropAfter: now.Add(time.Hour)}
			buf = rec.AppendJSON(buf[:0])
			if err := e.nc.Publish(subj, buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.nc.Flush(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRevokeBatch measures RevokeBatch of 10,000 tokens per op (revocations/s) beside the raw
// store Append of the same chunks without publishing and the raw NATS publish of the same events
// without the store.
func BenchmarkRevokeBatch(b *testing.B) {
	const batch, chunk = 10_000, 1000
	e := benchEnv(b)
	ctx := context.Background()
	r := mustNew(b, e.nc, e.store, revoker.WithBatchChunk(chunk))
	perSec := func(b *testing.B) {
		b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds(), "revocations/s")
	}
	revsFor := func(prefix string, op int) []events.Revocation {
		revs := tokens(fmt.Sprintf("%s%d", prefix, op), batch)
		now := time.Now()
		for i := range revs {
			revs[i].RevokedAt, revs[i].DropAfter = now, now.Add(time.Hour)
		}
		return revs
	}
	b.Run("revoker", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			revs := revsFor("r", i)
			b.StartTimer()
			if _, err := r.RevokeBatch(ctx, revs); err != nil {
				b.Fatal(err)
			}
		}
		perSec(b)
	})
	b.Run("baseline=store-append", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			revs := revsFor("s", i)
			b.StartTimer()
			for from := 0; from < batch; from += chunk {
				if err := e.store.Append(ctx, revs[from:from+chunk]); err != nil {
					b.Fatal(err)
				}
			}
		}
		perSec(b)
	})
	b.Run("baseline=nats-publish", func(b *testing.B) {
		b.ReportAllocs()
		subj := events.RevocationSubject(events.DefaultPrefix)
		var buf []byte
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			revs := revsFor("n", i)
			b.StartTimer()
			for j := range revs {
				revs[j].Seq = uint64(j + 1)
				buf = revs[j].AppendJSON(buf[:0])
				if err := e.nc.Publish(subj, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.nc.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		perSec(b)
	})
}
