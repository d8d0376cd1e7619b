package subscriber

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{}) // go-redis logs every failed dial; the Redis-down tests cause many
	goleak.VerifyTestMain(m)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// tokenClaims returns claims of a token with jti id, issued now.
func jtiClaims(jti string) *Claims {
	return &Claims{ID: jti, SessionID: "sid-unrelated", Subject: "sub-unrelated", IssuedAt: time.Now()}
}

// revokedToken reports whether s rejects the token with jti id because of a token revocation.
func revokedToken(s *Subscriber, jti string) bool {
	var re *RevokedError
	return errors.As(s.Check(jtiClaims(jti)), &re) && re.Kind == events.KindToken
}

// waitRevoked waits until s rejects every jti in ids.
func waitRevoked(t *testing.T, s *Subscriber, ids []string, within time.Duration) {
	t.Helper()
	testenv.WaitFor(t, within, func() error {
		missing := 0
		for _, id := range ids {
			if !revokedToken(s, id) {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d revocations not applied (stats %+v)", missing, len(ids), s.Stats())
		}
		return nil
	})
}

func tokenRev(id string) events.Revocation {
	return events.Revocation{Kind: events.KindToken, ID: id, Reason: "test"}
}

type env struct {
	redis *testenv.Redis
	store *redisstore.Store
}

func newEnv(t *testing.T) *env {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	return &env{redis: r, store: redisstore.New(r.Client(t))}
}

func (e *env) revoker(t *testing.T, nc *nats.Conn, opts ...revoker.Option) *revoker.Revoker {
	rv, err := revoker.New(nc, e.store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

func (e *env) subscriber(t *testing.T, nc *nats.Conn, opts ...Option) *Subscriber {
	t.Helper()
	s, err := New(nc, e.store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func start(t *testing.T, s *Subscriber) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// proxiedConn connects to n through a loopback fault proxy (to cut the link silently), reconnecting
// forever; the proxy is restored and the connection closed when the test ends.
func proxiedConn(t *testing.T, n *testenv.NATS) (*testenv.Proxy, *nats.Conn) {
	t.Helper()
	p := testenv.StartProxy(t, strings.TrimPrefix(n.URL(), "nats://"))
	nc, err := nats.Connect(p.URL("nats"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); p.Restore() })
	return p, nc
}

// heartbeats runs the revoker's heartbeat loop until the test ends.
func heartbeats(t *testing.T, rv *revoker.Revoker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestColdStartWhileRevoking(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t))
	ctx := context.Background()

	const live = 100_000
	seed := make([]events.Revocation, live)
	for i := range seed {
		seed[i] = tokenRev(fmt.Sprintf("seed-%d", i))
	}
	if _, err := rv.RevokeBatch(ctx, seed); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() { // revocations keep coming while the subscriber starts
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("during-%d", i)
			if _, err := rv.Revoke(ctx, tokenRev(id)); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
	}()
	testenv.WaitFor(t, 10*time.Second, func() error { // some revocations before Start begins
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 20 {
			return errors.New("not yet")
		}
		return nil
	})

	s := e.subscriber(t, n.Connect(t))
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	start(t, s)
	// Everything acknowledged before Start began is applied the moment Start returns.
	for _, id := range append(before, "seed-0", fmt.Sprintf("seed-%d", live-1)) {
		if !revokedToken(s, id) {
			t.Fatalf("%s was acknowledged before Start but is not applied when Start returns", id)
		}
	}
	for i := 0; i < live; i++ {
		if !revokedToken(s, fmt.Sprintf("seed-%d", i)) {
			t.Fatalf("snapshot entry seed-%d missing", i)
		}
	}
	testenv.WaitFor(t, 10*time.Second, func() error { // and some after it
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < len(before)+50 {
			return errors.New("not yet")
		}
		return nil
	})
	close(stop)
	<-done
	waitRevoked(t, s, acked, 10*time.Second)
	if got := s.Stats().Entries["token"]; got != int64(live+len(acked)) {
		t.Fatalf("cache holds %d token entries, want %d", got, live+len(acked))
	}
}

func TestNodeStoppedWhileRevoking(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	pub := testenv.StartNATS(t, testenv.NATSOptions{}) // the revoker's own server, which stays up
	rv := e.revoker(t, pub.Connect(t))
	s := e.subscriber(t, n.Connect(t), WithHeartbeatBound(time.Hour)) // only the reconnect may save it
	start(t, s)

	n.Shutdown()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("while-down-%d", i)
		if _, err := rv.Revoke(context.Background(), tokenRev(ids[i])); err != nil {
			t.Fatal(err)
		}
	}
	if revokedToken(s, ids[0]) {
		t.Fatal("applied with its NATS node down and silence detection off: the test proves nothing")
	}
	n.Restart(t)
	waitRevoked(t, s, ids, 15*time.Second)
	if s.Stats().Resyncs[ReasonReconnect] == 0 {
		t.Fatalf("caught up without a reconnect resync: %+v", s.Stats())
	}
}

func TestClusterNodeStopped(t *testing.T) {
	e := newEnv(t)
	c := testenv.StartCluster(t, 3, testenv.NATSOptions{})
	rv := e.revoker(t, c.Nodes[0].Connect(t))
	heartbeats(t, rv)
	// The subscriber is on node 2 and fails over to node 1.
	nc, err := nats.Connect(c.Nodes[2].URL()+","+c.Nodes[1].URL(), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s := e.subscriber(t, nc)
	start(t, s)

	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("cluster-%d", i)
		if i == 300 {
			c.Nodes[2].Shutdown()
		}
		if _, err := rv.Revoke(context.Background(), tokenRev(ids[i])); err != nil {
			t.Fatal(err)
		}
	}
	waitRevoked(t, s, ids, 15*time.Second)
	if nc.ConnectedUrl() != c.Nodes[1].URL() {
		t.Fatalf("subscriber is on %s, want node 1 after node 2 stopped", nc.ConnectedUrl())
	}
}

func TestNATSDownStorePolling(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	const bound, poll = 500 * time.Millisecond, 200 * time.Millisecond
	s := e.subscriber(t, n.Connect(t), WithHeartbeatBound(bound), WithPollInterval(poll))
	start(t, s)
	n.Shutdown() // NATS entirely down, for good
	rv := e.revoker(t, nil)
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("poll-%d", i)
		t0 := time.Now()
		if _, err := rv.Revoke(context.Background(), tokenRev(id)); err != nil {
			t.Fatal(err)
		}
		waitRevoked(t, s, []string{id}, 5*time.Second)
		// Silence is noticed after the bound, then the store is read every poll interval.
		if d := time.Since(t0); d > bound+2*poll+500*time.Millisecond {
			t.Fatalf("revocation %d took %v to arrive by polling, bound %v + poll %v", i, d, bound, poll)
		}
	}
	if st := s.Stats(); st.Resyncs[ReasonPoll]+st.Resyncs[ReasonSilence] == 0 {
		t.Fatalf("no poll resyncs: %+v", st)
	}
}

func TestDuplicatesReorderingGaps(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	pub := n.Connect(t)
	ctx := context.Background()

	// The reference: everything in the store, delivered in order.
	recs := make([]events.Revocation, 40)
	now := time.Now()
	for i := range recs {
		recs[i] = events.Revocation{Kind: events.Kind(i%3 + 1), ID: fmt.Sprintf("id-%d", i%17), RevokedAt: now,
			DropAfter: now.Add(time.Hour), Reason: "perm"}
		if recs[i].Kind == events.KindSubject {
			recs[i].NotBefore = now.Add(time.Duration(i) * time.Millisecond)
		}
	}
	recs = append(recs, events.Revocation{Kind: events.KindAll, RevokedAt: now, NotBefore: now.Add(-time.Hour), DropAfter: now.Add(time.Hour)})

	for trial := 0; trial < 5; trial++ {
		prefix := fmt.Sprintf("perm%d", trial)
		store := redisstore.New(e.redis.Client(t), redisstore.WithPrefix(prefix))
		batch := append([]events.Revocation(nil), recs...)
		if err := store.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		s, err := New(pub, emptyUntilStarted{store}, WithPrefix(prefix), WithGapWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		start(t, s)

		// Deliver a shuffled selection with duplicates and holes.
		rng := rand.New(rand.NewPCG(uint64(trial), 7))
		var order []events.Revocation
		for _, r := range batch {
			switch rng.IntN(4) {
			case 0: // a hole: never delivered
			case 1:
				order = append(order, r, r) // twice
			default:
				order = append(order, r)
			}
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, r := range order {
			if err := pub.Publish(events.RevocationSubject(prefix), r.AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
		}
		testenv.WaitFor(t, 10*time.Second, func() error {
			if st := s.Stats(); st.Applied != uint64(len(batch)) {
				return fmt.Errorf("applied %d of %d", st.Applied, len(batch))
			}
			return nil
		})
		// Same state as in-order delivery: every entry matches exactly as events.Matches says.
		for _, r := range batch {
			for _, probe := range probes(r) {
				want := false
				for _, q := range batch {
					want = want || q.Matches(probe.ID, probe.SessionID, probe.Subject, probe.IssuedAt)
				}
				if got := s.Check(probe) != nil; got != want {
					t.Fatalf("trial %d: Check(%+v) revoked=%v, want %v", trial, probe, got, want)
				}
			}
		}
		if n := s.Stats().Resyncs[ReasonRegressed]; n != 0 { // duplicates are not a reused sequence
			t.Fatalf("trial %d: %d regressed resyncs", trial, n)
		}
	}
}

// emptyUntilStarted hides the store's entries from the snapshot, so the test's own deliveries and
// the catch-up are what fill the cache.
type emptyUntilStarted struct{ *redisstore.Store }

func (e emptyUntilStarted) Snapshot(ctx context.Context, fn func([]events.Revocation) error) (uint64, error) {
	return 0, nil
}

// probes returns claims that sit just on each side of what r revokes.
func probes(r events.Revocation) []*Claims {
	at := r.NotBefore
	if at.IsZero() {
		at = time.Now()
	}
	id := r.ID
	if id == "" { // kind all
		id = "any"
	}
	mk := func(jti, sid, sub string, iat time.Time) *Claims {
		return &Claims{ID: jti, SessionID: sid, Subject: sub, IssuedAt: iat}
	}
	return []*Claims{
		mk(id, "s-none", "u-none", at.Add(time.Hour)),
		mk("j-none", id, "u-none", at.Add(time.Hour)),
		mk("j-none", "s-none", id, at.Add(-time.Microsecond)),
		mk("j-none", "s-none", id, at),
		mk("j-none", "s-none", "u-none", at.Add(-2*time.Hour)),
	}
}

func TestTinyPendingLimitsBurst(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t))
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}) // slow-consumer errors are the point
	s := e.subscriber(t, n.Connect(t, quiet), WithPendingLimits(16, 1<<20))
	start(t, s)
	ids := make([]string, 20_000)
	revs := make([]events.Revocation, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("burst-%d", i)
		revs[i] = tokenRev(ids[i])
	}
	if _, err := rv.RevokeBatch(context.Background(), revs); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, s, ids, 20*time.Second)
	st := s.Stats()
	if st.Dropped == 0 {
		t.Fatalf("NATS dropped nothing: the burst did not exceed the pending limits (%+v)", st)
	}
	if st.Resyncs[ReasonSlowConsumer]+st.Resyncs[ReasonGap] == 0 {
		t.Fatalf("drops were not detected: %+v", st)
	}
}

func TestMalformedEventsDropped(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	pub := n.Connect(t)
	var (
		mu   sync.Mutex
		errs []error
	)
	s := e.subscriber(t, n.Connect(t), WithErrorHandler(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
	start(t, s)
	before := s.Stats()
	junk := [][]byte{
		[]byte("not json"),
		make([]byte, events.MaxSize+1),
		[]byte(`{"v":2,"seq":1,"kind":"all","revoked_at":"2026-01-01T00:00:00Z","not_before":"2999-01-01T00:00:00Z","drop_after":"2999-01-01T00:00:00Z"}`),
		[]byte(`{"v":1,"seq":1,"kind":"token","id":"a b","revoked_at":"2026-01-01T00:00:00Z","drop_after":"2999-01-01T00:00:00Z"}`),
		[]byte(`{"v":1,"kind":"all","revoked_at":"2026-01-01T00:00:00Z","not_before":"2999-01-01T00:00:00Z","drop_after":"2999-01-01T00:00:00Z"}`), // no seq
		[]byte(`{"v":1,"head":"x"}`),
	}
	for i, b := range junk {
		subject := events.RevocationSubject(events.DefaultPrefix)
		if i == len(junk)-1 {
			subject = events.HeartbeatSubject(events.DefaultPrefix)
		}
		if err := pub.Publish(subject, b); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if got := s.Stats().Invalid; got != uint64(len(junk)) {
			return fmt.Errorf("%d invalid events counted, want %d", got, len(junk))
		}
		return nil
	})
	after := s.Stats()
	if after.Applied != before.Applied || fmt.Sprint(after.Entries) != fmt.Sprint(before.Entries) {
		t.Fatalf("malformed events changed the cache: before %+v after %+v", before, after)
	}
	if err := s.Check(jtiClaims("anything")); err != nil {
		t.Fatalf("a forged 'all' with a bad version or no seq took effect: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		if !errors.Is(err, ErrEvent) || len(err.Error()) > 200 {
			t.Fatalf("handler error %q: want ErrEvent without the payload", err)
		}
	}
}

func TestCloseIsIdempotentAndKeepsConn(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc := n.Connect(t)
	s := e.subscriber(t, nc)
	if err := s.Start(context.Background()); err != nil { // a context without a deadline works
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if nc.IsClosed() {
		t.Fatal("Close closed the caller's connection")
	}
	unstarted := e.subscriber(t, nc)
	if err := unstarted.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
}

// TestNothingAppliedAfterClose: Close while events are arriving and being applied on the NATS
// goroutine; once it returns, no event is applied or reported any more, and the connection still
// delivers to others.
func TestNothingAppliedAfterClose(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	var reported sync.Map // id → struct{}
	s := e.subscriber(t, n.Connect(t), WithOnRevoke(func(r events.Revocation) {
		reported.Store(r.ID, struct{}{})
		time.Sleep(50 * time.Microsecond) // hold the writer lock a little, as a real hook might
	}))
	start(t, s)
	rv := e.revoker(t, n.Connect(t))
	count := func() (c int) {
		reported.Range(func(any, any) bool { c++; return true })
		return c
	}

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		i := 0
		for {
			select {
			case <-stop:
				done <- i
				return
			default:
			}
			if _, err := rv.Revoke(context.Background(), tokenRev(fmt.Sprintf("close-%d", i))); err != nil {
				t.Error(err)
			}
			i++
		}
	}()
	testenv.WaitFor(t, 10*time.Second, func() error {
		if c := count(); c < 200 {
			return fmt.Errorf("%d revocations reported", c)
		}
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	atClose, applied := count(), s.Stats().Applied
	// Keep revoking after Close, and make sure those events reached this process.
	other := e.subscriber(t, n.Connect(t))
	start(t, other)
	before := other.Stats().Applied
	testenv.WaitFor(t, 10*time.Second, func() error {
		if got := other.Stats().Applied - before; got < 200 {
			return fmt.Errorf("another subscriber applied %d since", got)
		}
		return nil
	})
	close(stop)
	sent := <-done
	if c := count(); c != atClose {
		t.Errorf("OnRevoke called %d times after Close returned", c-atClose)
	}
	if got := s.Stats().Applied; got != applied {
		t.Errorf("applied sequence moved from %d to %d after Close returned", applied, got)
	}
	if revokedToken(s, fmt.Sprintf("close-%d", sent-1)) {
		t.Errorf("the last revocation, sent after Close, reached the closed subscriber's cache")
	}
}

// TestForgedSequenceDoesNotHoldAGapOpen: an event or heartbeat claiming a sequence far beyond the
// store's head costs one catch-up, not a catch-up every gap wait forever.
func TestForgedSequenceDoesNotHoldAGapOpen(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	pub := n.Connect(t)
	s := e.subscriber(t, n.Connect(t), WithGapWait(20*time.Millisecond), WithSweepInterval(20*time.Millisecond))
	start(t, s)
	now := time.Now()
	forged := events.Revocation{Seq: 1 << 40, Kind: events.KindToken, ID: "forged", RevokedAt: now, DropAfter: now.Add(time.Minute)}
	hb := events.Heartbeat{Head: 1 << 41, Time: now}
	if err := pub.Publish(events.RevocationSubject(events.DefaultPrefix), forged.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(events.HeartbeatSubject(events.DefaultPrefix), hb.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if st := s.Stats(); st.Resyncs[ReasonGap]+st.Resyncs[ReasonHeartbeatAhead] == 0 {
			return errors.New("no catch-up yet")
		}
		return nil
	})
	testenv.WaitFor(t, 5*time.Second, func() error {
		if st := s.Stats(); st.Head != 0 || !st.Fresh {
			return fmt.Errorf("head %d fresh %v: the forged sequence still counts", st.Head, st.Fresh)
		}
		return nil
	})
	// Wait out 15 gap waits, counted by the apply loop's own sweeps (one per 20 ms tick), not by
	// a sleep: a held-open gap would catch up at every one.
	before, sweeps := s.Stats().Resyncs, s.Stats().Sweeps
	testenv.WaitFor(t, 10*time.Second, func() error {
		if got := s.Stats().Sweeps; got < sweeps+15 {
			return fmt.Errorf("%d sweeps of 15", got-sweeps)
		}
		return nil
	})
	after := s.Stats().Resyncs
	if d := after[ReasonGap] + after[ReasonHeartbeatAhead] - before[ReasonGap] - before[ReasonHeartbeatAhead]; d > 1 {
		t.Fatalf("%d more catch-ups after the forged sequence was resolved", d)
	}
}

// TestHalfOpenConnection: the subscriber's TCP connection goes silent without closing (a partition
// through a proxy: no bytes, no FIN), which nats.go notices only after its pings fail. Revocations
// made meanwhile still reach the subscriber within the heartbeat bound plus two poll intervals,
// through the store, while its connection still reports itself connected.
func TestHalfOpenConnection(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t), revoker.WithHeartbeatInterval(50*time.Millisecond))
	heartbeats(t, rv)
	p, nc := proxiedConn(t, n)
	const bound, poll = 400 * time.Millisecond, 100 * time.Millisecond
	s := e.subscriber(t, nc, WithHeartbeatBound(bound), WithPollInterval(poll))
	start(t, s)
	waitRevoked(t, s, revokeN(t, rv, "before", 5), 5*time.Second)

	p.Blackhole()
	silence := s.Stats().Resyncs[ReasonSilence]
	for i := range 10 {
		t0 := time.Now()
		ids := revokeN(t, rv, fmt.Sprintf("half-open-%d", i), 1)
		waitRevoked(t, s, ids, 5*time.Second)
		if d := time.Since(t0); d > bound+2*poll+300*time.Millisecond {
			t.Fatalf("revocation %d took %v through a half-open connection; bound %v, poll %v", i, d, bound, poll)
		}
	}
	if !nc.IsConnected() {
		t.Fatal("nats.go noticed the half-open connection: the test did not exercise silence detection")
	}
	if s.Stats().Resyncs[ReasonSilence] == silence {
		t.Fatalf("arrived without a silence resync: %+v", s.Stats())
	}
}

// revokeN revokes n tokens named prefix-0… and returns their ids.
func revokeN(t *testing.T, rv *revoker.Revoker, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		if _, err := rv.Revoke(context.Background(), tokenRev(ids[i])); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestCloseDuringStart: Close while Start is retrying against a store that is down ends Start with
// ErrClosed, waits for it, and leaves no subscription behind (goleak checks the goroutines).
func TestCloseDuringStart(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	store := redisstore.New(r.Client(t))
	r.Stop(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc := n.Connect(t)
	failures := make(chan error, 100)
	s, err := New(nc, store, WithErrorHandler(func(err error) {
		select {
		case failures <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Start(context.Background()) }()
	<-failures // Start is in its retry loop
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Start = %v, want ErrClosed", err)
		}
	default:
		t.Fatal("Close returned before Start did")
	}
	if got := nc.NumSubscriptions(); got != 0 {
		t.Fatalf("%d subscriptions left on the connection", got)
	}
	if nc.IsClosed() {
		t.Fatal("Close closed the caller's connection")
	}
}
