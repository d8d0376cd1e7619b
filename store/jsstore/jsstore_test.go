package jsstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/storetest"
	"github.com/revocast/revocast/subscriber"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{JetStream: true})
	nc := n.Connect(t)
	i := 0
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Log {
		i++
		s, err := New(context.Background(), nc, WithStream(fmt.Sprintf("T%d", i)), WithSubject(fmt.Sprintf("t%d.log", i)),
			WithClock(now), WithMaxAge(100*365*24*time.Hour), WithBatchSize(7))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceCluster(t *testing.T) {
	c := testenv.StartCluster(t, 3, testenv.NATSOptions{JetStream: true})
	nc := c.Connect(t)
	i := 0
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Log {
		i++
		var s *Store
		testenv.WaitFor(t, 20*time.Second, func() error { // the meta leader may still be settling
			var err error
			s, err = New(context.Background(), nc, WithStream(fmt.Sprintf("C%d", i)), WithSubject(fmt.Sprintf("c%d.log", i)),
				WithClock(now), WithMaxAge(100*365*24*time.Hour), WithReplicas(3))
			return err
		})
		return s
	})
}

// TestSubscriberOnJetStream runs the whole protocol on the JetStream store: cold start from the
// stream, then live revocations through the revoker.
func TestSubscriberOnJetStream(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{JetStream: true})
	nc := n.Connect(t)
	ctx := context.Background()
	s, err := New(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := revoker.New(nc, s)
	if err != nil {
		t.Fatal(err)
	}
	before := make([]events.Revocation, 2500)
	for i := range before {
		before[i] = events.Revocation{Kind: events.KindToken, ID: fmt.Sprintf("before-%d", i)}
	}
	if _, err := rv.RevokeBatch(ctx, before); err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(nc, s)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	revoked := func(jti string) bool {
		return sub.Check(&subscriber.Claims{ID: jti, SessionID: "s", Subject: "u", IssuedAt: time.Now()}) != nil
	}
	for i := range before {
		if !revoked(fmt.Sprintf("before-%d", i)) {
			t.Fatalf("before-%d not in the cold start", i)
		}
	}
	if _, err := rv.Revoke(ctx, events.Revocation{Kind: events.KindToken, ID: "after"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if !revoked("after") {
			return fmt.Errorf("live revocation not applied: %+v", sub.Stats())
		}
		return nil
	})
	n.Restart(t) // file storage: the log survives a restart of the server
	sub2, err := subscriber.New(nc, s)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	testenv.WaitFor(t, 10*time.Second, func() error { return sub2.Start(ctx) })
	if st := sub2.Stats(); st.Entries["token"] != int64(len(before)+1) {
		t.Fatalf("after a server restart the log holds %v", st.Entries)
	}
}

func TestRetentionBound(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{JetStream: true})
	s, err := New(context.Background(), n.Connect(t), WithMaxAge(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := storetest.Rev("far", 2*time.Hour)
	r.RevokedAt, r.DropAfter = time.Now(), time.Now().Add(2*time.Hour)
	if err := s.Append(context.Background(), []events.Revocation{r}); !errors.Is(err, ErrRetention) {
		t.Fatalf("an entry that would outlive the stream's MaxAge: %v, want ErrRetention", err)
	}
	if h, _ := s.Head(context.Background()); h != 0 {
		t.Fatalf("head %d after a refused append", h)
	}
}
