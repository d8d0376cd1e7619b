package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
)

// TestStatusReplies: every subscriber on the subject answers one status request (scatter-gather),
// with its service name, applied sequence, freshness and a propagation percentile once
// revocations have arrived; a request without a reply subject is ignored.
func TestStatusReplies(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t))
	names := []string{"orders", "billing", "orders"}
	for _, name := range names {
		start(t, e.subscriber(t, n.Connect(t), WithService(name)))
	}
	for i := range 5 {
		if _, err := rv.Revoke(context.Background(), tokenRev(fmt.Sprintf("j-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	nc := n.Connect(t)
	if err := nc.Publish(events.StatusSubject(events.DefaultPrefix), nil); err != nil { // no reply subject
		t.Fatal(err)
	}
	var replies []StatusReply
	testenv.WaitFor(t, 5*time.Second, func() error {
		replies = gather(t, nc, len(names))
		for _, r := range replies {
			if r.Applied != 5 || r.LagP99Millis == 0 {
				return fmt.Errorf("%s applied %d, p99 %v ms", r.Service, r.Applied, r.LagP99Millis)
			}
		}
		return nil
	})
	var got []string
	instances := map[string]bool{}
	for _, r := range replies {
		got = append(got, r.Service)
		instances[r.Instance] = true
		if !r.Fresh || r.Head != 5 || r.Entries["token"] != 5 || r.FreshnessAgeMillis < 0 || r.Time.IsZero() {
			t.Errorf("reply %+v", r)
		}
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[billing orders orders]" || len(instances) != 3 {
		t.Fatalf("services %v, %d distinct instances", got, len(instances))
	}
}

// gather sends one status request and collects replies until want arrived or 2s passed.
func gather(t *testing.T, nc *nats.Conn, want int) []StatusReply {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(events.StatusSubject(events.DefaultPrefix), inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out []StatusReply
	deadline := time.Now().Add(2 * time.Second)
	for len(out) < want {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var r StatusReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("reply %q: %v", m.Data, err)
		}
		out = append(out, r)
	}
	if len(out) != want {
		t.Fatalf("%d replies, want %d", len(out), want)
	}
	return out
}
