package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

// newRevoker returns a revoker on nc and store with 100 ms heartbeats running.
func newRevoker(t *testing.T, nc *nats.Conn, store revoker.Log) *revoker.Revoker {
	t.Helper()
	rv, err := revoker.New(nc, store, revoker.WithHeartbeatInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	heartbeats(t, rv)
	return rv
}

// connectVia connects to NATS through the fault proxy p, reconnecting forever.
func connectVia(t *testing.T, p *testenv.Proxy) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(p.URL("nats"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestHalfOpenSubscriber: one subscriber's NATS connection stops forwarding without closing (a
// half-open TCP connection; nats.go would notice only after its ping interval, minutes) while
// revocations continue. Its own silence detection must switch it to the store.
func TestHalfOpenSubscriber(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv := newRevoker(t, n.Connect(t), store)
	p := testenv.StartProxy(t, strings.TrimPrefix(n.URL(), "nats://"))
	defer p.Restore()
	h := NewHistory(bound)
	cut := startSub(t, connectVia(t, p), store, quick()...)
	h.Watch("half-open", tokenRevoked(cut))
	for i := range 2 {
		h.Watch(fmt.Sprint("direct-", i), tokenRevoked(startSub(t, n.Connect(t), store, quick()...)))
	}
	l := startLoad(h, rv, "half-open", 200)
	time.Sleep(300 * time.Millisecond)
	p.Blackhole()
	time.Sleep(size(2*time.Second, 10*time.Second))
	l.stop()
	report(t, "half-open subscriber connection", h.Verify())
	if cut.Stats().Resyncs[subscriber.ReasonSilence] == 0 {
		t.Fatal("the cut-off subscriber never noticed the silence")
	}
}

// TestNATSDown: NATS is fully down (3 s, 30 s at full size) under revocation load: the revoker
// keeps appending, subscribers keep up by polling the store.
func TestNATSDown(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv := newRevoker(t, n.Connect(t), store)
	h := NewHistory(bound)
	for i := range 3 {
		h.Watch(fmt.Sprint("sub-", i), tokenRevoked(startSub(t, n.Connect(t), store, quick()...)))
	}
	l := startLoad(h, rv, "nats-down", 200)
	time.Sleep(300 * time.Millisecond)
	n.Shutdown()
	time.Sleep(size(3*time.Second, 30*time.Second))
	n.Restart(t)
	time.Sleep(500 * time.Millisecond)
	l.stop()
	report(t, "NATS down "+size("3 s", "30 s")+" under load", h.Verify())
	if rv.Stats().PublishErrors == 0 && l.failed.Load() == 0 {
		t.Log("note: nats.go buffered every publish while NATS was down")
	}
}

// TestRollingRestart: each node of a 3-node cluster is restarted in turn under load; subscribers
// are attached to different nodes.
func TestRollingRestart(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	c := testenv.StartCluster(t, 3, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv := newRevoker(t, c.Connect(t), store)
	h := NewHistory(bound)
	for i, node := range c.Nodes {
		nc, err := nats.Connect(node.URL()+","+c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.DontRandomize())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		h.Watch(fmt.Sprint("on-node-", i), tokenRevoked(startSub(t, nc, store, quick()...)))
	}
	l := startLoad(h, rv, "rolling", 200)
	for _, node := range c.Nodes {
		time.Sleep(size(500*time.Millisecond, 3*time.Second))
		node.Restart(t)
		c.WaitRoutes(t)
	}
	time.Sleep(500 * time.Millisecond)
	l.stop()
	report(t, "rolling restart of 3 NATS nodes", h.Verify())
}

// TestRedisKill9: Redis (AOF, appendfsync always) is killed with SIGKILL under load and restarted:
// every acknowledged revocation survives, in running subscribers and in one that cold-starts from
// the restarted store.
func TestRedisKill9(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv := newRevoker(t, n.Connect(t), store)
	h := NewHistory(bound)
	for i := range 2 {
		h.Watch(fmt.Sprint("sub-", i), tokenRevoked(startSub(t, n.Connect(t), store, quick()...)))
	}
	l := startLoad(h, rv, "kill9", 300)
	time.Sleep(500 * time.Millisecond)
	r.Kill(t)
	time.Sleep(300 * time.Millisecond)
	r.Restart(t)
	time.Sleep(500 * time.Millisecond)
	l.stop()
	cold := startSub(t, n.Connect(t), redisstore.New(r.Client(t)), quick()...)
	h.Watch("cold-after-restart", tokenRevoked(cold))
	report(t, "Redis kill -9 (appendfsync always) under load", h.Verify())
	if l.failed.Load() == 0 {
		t.Fatal("no revocation failed while Redis was down: the kill did not happen under load")
	}
}

// TestBurstSmallPendingLimits: a burst of revocations (20k, 100k at full size) into subscribers
// whose NATS pending limits hold 64 messages: NATS drops most of them, the subscribers catch up
// from the store.
func TestBurstSmallPendingLimits(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv := newRevoker(t, n.Connect(t), store)
	h := NewHistory(size(5*time.Second, 15*time.Second))
	var subs []*subscriber.Subscriber
	for i := range 3 {
		s := startSub(t, n.Connect(t), store, quick(subscriber.WithPendingLimits(64, 64*1024))...)
		subs = append(subs, s)
		h.Watch(fmt.Sprint("sub-", i), tokenRevoked(s))
	}
	total := size(20_000, 100_000)
	revs := make([]events.Revocation, total)
	for i := range revs {
		revs[i] = events.Revocation{Kind: events.KindToken, ID: fmt.Sprint("burst-", i), Reason: "chaos"}
	}
	last, err := rv.RevokeBatch(context.Background(), revs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range revs {
		h.Ack(revs[i].ID, last-uint64(total-1-i))
	}
	report(t, fmt.Sprintf("burst of %dk into pending limit 64", total/1000), h.Verify())
	dropped := 0
	for _, s := range subs {
		dropped += s.Stats().Dropped
	}
	if dropped == 0 {
		t.Log("note: no message was dropped; the pending limits were not exercised")
	}
}

// TestColdStartRacingDuplicatesReordering: subscribers cold-start at different moments during
// the load, while a rogue-but-authorized publisher replays old events (duplicates) in shuffled
// order.
func TestColdStartRacingDuplicatesReordering(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv := newRevoker(t, n.Connect(t), store)
	h := NewHistory(bound)
	h.Watch("from-start", tokenRevoked(startSub(t, n.Connect(t), store, quick()...)))
	var (
		mu   sync.Mutex
		seen []events.Revocation
	)
	record := func(m *nats.Msg) {
		if r, err := events.DecodeRevocation(m.Data); err == nil {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
		}
	}
	sub, err := n.Connect(t).Subscribe(events.RevocationSubject(events.DefaultPrefix), record)
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(h, rv, "race", 300)
	replayer := n.Connect(t)
	for i := range 3 {
		time.Sleep(300 * time.Millisecond)
		_ = sub.Unsubscribe()
		mu.Lock()
		old := append([]events.Revocation(nil), seen...)
		mu.Unlock()
		rand.Shuffle(len(old), func(a, b int) { old[a], old[b] = old[b], old[a] })
		for _, e := range old {
			_ = replayer.Publish(events.RevocationSubject(events.DefaultPrefix), e.AppendJSON(nil))
		}
		h.Watch(fmt.Sprint("cold-", i), tokenRevoked(startSub(t, n.Connect(t), store, quick()...)))
		sub, _ = n.Connect(t).Subscribe(events.RevocationSubject(events.DefaultPrefix), record)
	}
	time.Sleep(300 * time.Millisecond)
	l.stop()
	_ = sub.Unsubscribe()
	report(t, "cold starts racing revocations, replayed duplicates, reordering", h.Verify())
}
