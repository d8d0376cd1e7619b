package jsstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/jsstore"
)

// live returns a token revocation by the real clock that lives for ttl.
func live(id string, ttl time.Duration) events.Revocation {
	now := time.Now()
	return events.Revocation{Kind: events.KindToken, ID: id, RevokedAt: now, DropAfter: now.Add(ttl), Reason: "logout", Origin: "test"}
}

func snapshotIDs(t *testing.T, s *jsstore.Store) ([]events.Revocation, uint64) {
	t.Helper()
	var all []events.Revocation
	head, err := s.Snapshot(context.Background(), func(b []events.Revocation) error {
		all = append(all, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, head
}

// TestLostAckDeduplicated loses the acknowledgement of a single-record Append (the connection is
// blackholed past the publish timeout, so the client publishes again): the retry carries the same
// Nats-Msg-Id, the server stores one copy and answers with its sequence, and the log stays dense.
func TestLostAckDeduplicated(t *testing.T) {
	defer jsstore.SetWriteTimeout(200 * time.Millisecond)()
	n := testenv.StartNATS(t, testenv.NATSOptions{JetStream: true})
	host, port, _ := net.SplitHostPort(n.URL()[len("nats://"):])
	p := testenv.StartProxy(t, net.JoinHostPort(host, port))
	nc := n.Connect(t) // direct, for setup and checks
	pc, err := nats.Connect(p.URL("nats"), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx := context.Background()
	if _, err := jsstore.New(ctx, nc); err != nil {
		t.Fatal(err)
	}
	s, err := jsstore.New(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	first := []events.Revocation{live("first", time.Hour)}
	if err := s.Append(ctx, first); err != nil || first[0].Seq != 1 {
		t.Fatalf("Append = %v, seq %d", err, first[0].Seq)
	}

	p.Blackhole()
	before := s.Publishes()
	recs := []events.Revocation{live("lost-ack", time.Hour)}
	done := make(chan error, 1)
	go func() { done <- s.Append(ctx, recs) }()
	testenv.WaitFor(t, 10*time.Second, func() error { // at least one attempt timed out and was retried
		if got := s.Publishes() - before; got < 3 {
			return fmt.Errorf("%d publish attempts", got)
		}
		return nil
	})
	p.Restore() // every held copy reaches the server now
	if err := <-done; err != nil {
		t.Fatalf("Append across a lost acknowledgement: %v", err)
	}
	if recs[0].Seq != 2 {
		t.Fatalf("seq %d, want 2", recs[0].Seq)
	}
	all, head := snapshotIDs(t, jsstoreOn(t, nc))
	if head != 2 || len(all) != 2 || all[1].ID != "lost-ack" || all[1].Seq != 2 {
		t.Fatalf("after %d attempts the log is head %d %+v, want exactly first and lost-ack", s.Publishes()-before, head, all)
	}
	next := []events.Revocation{live("next", time.Hour)}
	if err := s.Append(ctx, next); err != nil || next[0].Seq != 3 {
		t.Fatalf("next Append = %v, seq %d, want 3", err, next[0].Seq)
	}
}

func jsstoreOn(t *testing.T, nc *nats.Conn, opts ...jsstore.Option) *jsstore.Store {
	t.Helper()
	s, err := jsstore.New(context.Background(), nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServerExpiresNeverEarly relies on the server's per-message TTLs with the real clock: an
// entry that lives a second disappears from the stream by itself (no Sweep), never before its
// DropAfter, while a long-lived one stays.
func TestServerExpiresNeverEarly(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{JetStream: true})
	nc := n.Connect(t)
	s := jsstoreOn(t, nc)
	ctx := context.Background()
	recs := []events.Revocation{live("short-1", time.Second), live("keep", time.Hour), live("short-2", 1500*time.Millisecond)}
	if err := s.Append(ctx, recs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, recs[1:]); err != nil { // a batch: TTLs on atomic publishes too
		t.Fatal(err)
	}
	raw := func() []string { // physical content, whatever its DropAfter
		var ids []string
		for seq := uint64(1); seq <= 3; seq++ {
			m, err := jsstore.RawGet(ctx, nc, "REVOCAST", seq)
			if err != nil {
				t.Fatal(err)
			}
			if m != nil {
				ids = append(ids, m.ID)
			}
		}
		return ids
	}
	gone := map[string]time.Time{}
	testenv.WaitFor(t, 15*time.Second, func() error {
		present := map[string]bool{}
		for _, id := range raw() {
			present[id] = true
		}
		now := time.Now()
		for _, r := range recs {
			if !present[r.ID] {
				if _, seen := gone[r.ID]; !seen {
					gone[r.ID] = now
				}
			}
		}
		if len(gone) < 2 {
			return fmt.Errorf("still present: %v", present)
		}
		return nil
	})
	for _, r := range recs {
		at, ok := gone[r.ID]
		switch {
		case r.ID == "keep" && ok:
			t.Fatalf("the long-lived entry expired at %v", at)
		case r.ID != "keep" && at.Before(r.DropAfter):
			t.Fatalf("%s expired at %v, before its DropAfter %v", r.ID, at, r.DropAfter)
		}
	}
	if h, err := s.Head(ctx); err != nil || h != 3 {
		t.Fatalf("Head after expiry = %d, %v; want 3", h, err)
	}
	all, _ := snapshotIDs(t, s)
	if len(all) != 1 || all[0].ID != "keep" {
		t.Fatalf("Snapshot after expiry: %+v", all)
	}
	if n, err := s.Sweep(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("Sweep after the server expired everything = %d, %v; want 0", n, err)
	}
}

// TestClusterLeaderLoss stops the stream's leader while two writers append single records and
// batches to a replicas-3 stream: appends resume by themselves (no retry by the caller), every
// acknowledged entry is in the log exactly once, and the sequence stays dense.
func TestClusterLeaderLoss(t *testing.T) {
	c := testenv.StartCluster(t, 3, testenv.NATSOptions{JetStream: true})
	nc := c.Connect(t)
	ctx := context.Background()
	var s *jsstore.Store
	testenv.WaitFor(t, 20*time.Second, func() error {
		var err error
		s, err = jsstore.New(ctx, nc, jsstore.WithReplicas(3))
		return err
	})
	leader, err := jsstore.Leader(ctx, nc, "REVOCAST")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		acked    = map[string]uint64{}
		failures []error
		wg       sync.WaitGroup
	)
	const perWriter = 150
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				recs := []events.Revocation{live(fmt.Sprintf("w%d-%d", w, i), time.Hour)}
				if i%10 == 9 {
					recs = append(recs, live(fmt.Sprintf("w%d-%d-b", w, i), time.Hour))
				}
				err := s.Append(ctx, recs)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					for _, r := range recs {
						acked[r.ID] = r.Seq
					}
				}
				mu.Unlock()
			}
		}()
	}
	testenv.WaitFor(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 60 {
			return fmt.Errorf("%d appended", len(acked))
		}
		return nil
	})
	stoppedName := ""
	for _, node := range c.Nodes {
		if node.Server.Name() == leader {
			stoppedName = leader
			node.Shutdown()
		}
	}
	if stoppedName == "" {
		t.Fatalf("stream leader %q is none of the nodes", leader)
	}
	wg.Wait()
	for _, err := range failures {
		// A batch whose commit got no answer is honestly unknown; anything else is a failure.
		if !errors.Is(err, jsstore.ErrUnknownOutcome) {
			t.Errorf("Append during leader loss: %v", err)
		}
	}
	testenv.WaitFor(t, 10*time.Second, func() error {
		newLeader, err := jsstore.Leader(ctx, nc, "REVOCAST")
		if err == nil && (newLeader == "" || newLeader == leader) {
			err = fmt.Errorf("leader %q after stopping %s", newLeader, leader)
		}
		return err
	})
	all, head := snapshotIDs(t, s)
	seen := map[string]uint64{}
	for i, r := range all {
		if r.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: not dense from 1", i, r.Seq)
		}
		if _, dup := seen[r.ID]; dup {
			t.Fatalf("%s stored twice (seqs %d and %d)", r.ID, seen[r.ID], r.Seq)
		}
		seen[r.ID] = r.Seq
	}
	if head != uint64(len(all)) {
		t.Fatalf("head %d, %d entries", head, len(all))
	}
	for id, seq := range acked {
		if seen[id] != seq {
			t.Fatalf("acknowledged %s at %d, the log has it at %d", id, seq, seen[id])
		}
	}
	t.Logf("stopped leader %s after %d acks; %d entries, %d unknown-outcome batches", leader, 60, len(all), len(failures))
}
