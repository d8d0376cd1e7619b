package jsstore

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/revocast/revocast/events"
)

// SetWriteTimeout sets the per-attempt publish timeout and returns a func restoring it.
func SetWriteTimeout(d time.Duration) (restore func()) {
	old := writeTimeout
	writeTimeout = d
	return func() { writeTimeout = old }
}

// Publishes returns how many single-record publish attempts s made.
func (s *Store) Publishes() int64 { return s.publishes.Load() }

// RawGet reads the message at seq from the stream's leader, whatever its DropAfter; nil when absent.
func RawGet(ctx context.Context, nc *nats.Conn, stream string, seq uint64) (*events.Revocation, error) {
	s := &Store{nc: nc, o: options{stream: stream, subject: ">"}}
	got, data, err := s.leaderNext(ctx, seq)
	if err != nil || got != seq {
		return nil, err
	}
	r, err := events.DecodeRevocation(data)
	return &r, err
}

// Leader returns the server name of the stream's leader.
func Leader(ctx context.Context, nc *nats.Conn, stream string) (string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil {
		return "", nil
	}
	return info.Cluster.Leader, nil
}
