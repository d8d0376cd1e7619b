package subscriber

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
)

// TestStoreEmptied: Redis without persistence is killed and restarted empty, so new revocations
// reuse sequence numbers 1, 2, 3… that the subscriber has applied. They must not be taken for
// duplicates: the subscriber applies them, reloads the store, and keeps every entry it had. No
// heartbeats and no silence catch-ups here: the events themselves must reveal the reuse.
func TestStoreEmptied(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t))
	s := e.subscriber(t, n.Connect(t), WithPollInterval(100*time.Millisecond), WithHeartbeatBound(time.Minute), WithFreshnessBound(2*time.Minute))
	start(t, s)
	before := revokeN(t, rv, "before", 5)
	waitRevoked(t, s, before, 5*time.Second)

	e.redis.Kill(t)
	e.redis.Restart(t) // empty: the log starts again at 1
	after := revokeN(t, rv, "after", 3)
	waitRevoked(t, s, append(after, before...), 5*time.Second)
	more := revokeN(t, rv, "more", 5) // seq 4..8: past the old applied 5
	waitRevoked(t, s, append(more, before...), 5*time.Second)
	st := s.Stats()
	if st.Resyncs[ReasonRegressed] == 0 {
		t.Fatalf("no regressed resync: %+v", st)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if st := s.Stats(); !st.Fresh || st.Applied != 8 {
			return fmt.Errorf("applied %d fresh %v, want 8 and fresh", st.Applied, st.Fresh)
		}
		return nil
	})
}

// TestStoreRolledBackWhileCutOff: the store loses its last two entries (Redis restarts from an
// older RDB snapshot, as after a failover to a lagging replica) while the subscriber's NATS link is
// silently cut. Three new revocations take sequence numbers 4, 5 and 6: the subscriber had
// applied up to 5, so a catch-up from 5 would find only 6. The log matching check (the store no
// longer holds entry 5 as it was) makes it reload the whole store instead: nothing is lost.
func TestStoreRolledBackWhileCutOff(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t), revoker.WithHeartbeatInterval(50*time.Millisecond))
	heartbeats(t, rv)
	p, nc := proxiedConn(t, n)
	s := e.subscriber(t, nc, WithHeartbeatBound(300*time.Millisecond), WithPollInterval(100*time.Millisecond))
	start(t, s)

	old := revokeN(t, rv, "old", 3)
	if err := e.redis.Client(t).Save(context.Background()).Err(); err != nil { // dump.rdb holds seq 1..3
		t.Fatal(err)
	}
	lost := revokeN(t, rv, "lost", 2) // seq 4, 5: acknowledged, applied, then lost by the store
	waitRevoked(t, s, append(old, lost...), 5*time.Second)

	p.Blackhole()
	e.redis.Kill(t)
	e.redis.Restart(t) // loads dump.rdb: head 3
	reused := revokeN(t, rv, "reused", 3)
	waitRevoked(t, s, reused, 10*time.Second)
	waitRevoked(t, s, append(old, lost...), time.Second) // never un-revoked
	if st := s.Stats(); st.Resyncs[ReasonRegressed] == 0 {
		t.Fatalf("no regressed resync: %+v", st)
	}
}
