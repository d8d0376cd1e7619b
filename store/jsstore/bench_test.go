package jsstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/jsstore"
)

// realistic returns a token revocation like the issuer makes: a 22-character jti, five minutes and a
// leeway to live.
func realistic(now time.Time) events.Revocation {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return events.Revocation{Kind: events.KindToken, ID: base64.RawURLEncoding.EncodeToString(id[:]),
		RevokedAt: now, DropAfter: now.Add(5*time.Minute + 30*time.Second), Reason: "logout", Origin: "issuer-1"}
}

// benchEnv is one embedded server with file storage, a Store on it, and a plain stream ("RAW" on
// "raw.log", the same settings but none of the store's headers) for the baselines.
func benchEnv(b *testing.B) (*jsstore.Store, jetstream.JetStream, *nats.Conn) {
	n := testenv.StartNATS(b, testenv.NATSOptions{JetStream: true})
	nc := n.Connect(b)
	ctx := context.Background()
	s, err := jsstore.New(ctx, nc)
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.log"},
		Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	return s, js, nc
}

// BenchmarkAppend: one record per Append (a deduplicated, TTL'd publish) beside a raw js.Publish of
// the same bytes, and atomic batches of 1,000 beside 1,000 raw async publishes awaited together.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	b.Run("single/jsstore", func(b *testing.B) {
		s, _, _ := benchEnv(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Append(ctx, []events.Revocation{realistic(time.Now())}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "revocations/s")
	})
	b.Run("single/raw-js.Publish", func(b *testing.B) {
		_, js, _ := benchEnv(b)
		b.ReportAllocs()
		for b.Loop() {
			r := realistic(time.Now())
			if _, err := js.Publish(ctx, "raw.log", r.AppendJSON(nil)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "revocations/s")
	})
	const batch = 1000
	b.Run("batch1000/jsstore", func(b *testing.B) {
		s, _, _ := benchEnv(b)
		recs := make([]events.Revocation, batch)
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			for i := range recs {
				recs[i] = realistic(now)
			}
			if err := s.Append(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "revocations/s")
	})
	b.Run("batch1000/raw-PublishAsync", func(b *testing.B) {
		_, js, _ := benchEnv(b)
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			for range batch {
				r := realistic(now)
				if _, err := js.PublishAsync("raw.log", r.AppendJSON(nil)); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				b.Fatal("async publishes not acknowledged")
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "revocations/s")
	})
}

// BenchmarkSnapshot100k reads a log of 100,000 entries: Snapshot (batched direct gets) beside a raw
// ordered consumer reading and decoding the same stream.
func BenchmarkSnapshot100k(b *testing.B) {
	const entries = 100_000
	ctx := context.Background()
	s, js, _ := benchEnv(b)
	now := time.Now()
	recs := make([]events.Revocation, 1000)
	for range entries / len(recs) {
		for i := range recs {
			recs[i] = realistic(now)
		}
		if err := s.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("jsstore", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if _, err := s.Snapshot(ctx, func(batch []events.Revocation) error { n += len(batch); return nil }); err != nil {
				b.Fatal(err)
			}
			if n != entries {
				b.Fatalf("%d entries", n)
			}
		}
		b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("raw-ordered-consumer", func(b *testing.B) {
		stream, err := js.Stream(ctx, "REVOCAST")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for n < entries {
				msgs, err := cons.Fetch(10_000, jetstream.FetchMaxWait(5*time.Second))
				if err != nil {
					b.Fatal(err)
				}
				for m := range msgs.Messages() {
					if _, err := events.DecodeRevocation(m.Data()); err != nil {
						b.Fatal(err)
					}
					n++
				}
				if err := msgs.Error(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "entries/s")
	})
}
