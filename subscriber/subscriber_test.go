package subscriber

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCheckKinds(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now()
	recs := []events.Revocation{
		{Kind: events.KindToken, ID: "jti-1", RevokedAt: t0, DropAfter: t0.Add(time.Hour)},
		{Kind: events.KindSession, ID: "sid-1", RevokedAt: t0, DropAfter: t0.Add(time.Hour)},
		{Kind: events.KindSubject, ID: "alice", RevokedAt: t0, NotBefore: t0, DropAfter: t0.Add(time.Hour)},
	}
	if err := e.store.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	s := e.subscriber(t, nil)
	start(t, s)
	cases := []struct {
		name string
		c    *Claims
		kind events.Kind // 0: not revoked
	}{
		{"token", &Claims{ID: "jti-1", SessionID: "s", Subject: "u", IssuedAt: t0}, events.KindToken},
		{"session", &Claims{ID: "j", SessionID: "sid-1", Subject: "u", IssuedAt: t0.Add(time.Hour)}, events.KindSession},
		{"subject before", &Claims{ID: "j", SessionID: "s", Subject: "alice", IssuedAt: t0.Add(-time.Microsecond)}, events.KindSubject},
		{"subject at not_before", &Claims{ID: "j", SessionID: "s", Subject: "alice", IssuedAt: t0}, 0},
		{"other subject", &Claims{ID: "j", SessionID: "s", Subject: "bob", IssuedAt: t0.Add(-time.Hour)}, 0},
		{"clean", &Claims{ID: "jti-2", SessionID: "sid-2", Subject: "bob", IssuedAt: t0}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Check(tc.c)
			var re *RevokedError
			switch {
			case tc.kind == 0 && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case tc.kind != 0 && (!errors.As(err, &re) || re.Kind != tc.kind || !errors.Is(err, ErrRevoked)):
				t.Fatalf("Check = %v, want revoked by %v", err, tc.kind)
			}
		})
	}
	for _, c := range []*Claims{nil, {SessionID: "s"}, {ID: "j"}} {
		if err := s.Check(c); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("Check(%+v) = %v, want ErrIncomplete", c, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = s.Check(cases[0].c); _ = s.Check(cases[5].c) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	clock := &fakeClock{now: time.Now()}
	t0 := clock.Now()
	recs := []events.Revocation{
		{Kind: events.KindToken, ID: "short", RevokedAt: t0, DropAfter: t0.Add(time.Minute)},
		{Kind: events.KindSession, ID: "short-s", RevokedAt: t0, DropAfter: t0.Add(time.Minute)},
		{Kind: events.KindSubject, ID: "short-u", RevokedAt: t0, NotBefore: t0, DropAfter: t0.Add(time.Minute)},
		{Kind: events.KindAll, RevokedAt: t0, NotBefore: t0.Add(-time.Hour), DropAfter: t0.Add(time.Minute)},
		{Kind: events.KindToken, ID: "long", RevokedAt: t0, DropAfter: t0.Add(time.Hour)},
		{Kind: events.KindSubject, ID: "long-u", RevokedAt: t0, NotBefore: t0, DropAfter: t0.Add(time.Hour)},
	}
	if err := e.store.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	s := e.subscriber(t, nil, WithClock(clock.Now), WithSweepInterval(time.Second))
	start(t, s)
	want := map[string]int64{"token": 2, "session": 1, "subject": 2, "all": 1}
	if got := s.Stats().Entries; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	sweeps := s.Stats().Sweeps
	clock.Add(time.Minute) // exactly at DropAfter: still kept (expiry is strictly after)
	testenv.WaitFor(t, 5*time.Second, func() error {
		if s.Stats().Sweeps <= sweeps {
			return errors.New("no sweep yet")
		}
		return nil
	})
	if got := s.Stats().Entries; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("an entry left before its DropAfter: %v", got)
	}
	clock.Add(time.Second)
	want = map[string]int64{"token": 1, "session": 0, "subject": 1, "all": 0}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if got := s.Stats().Entries; fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("entries %v, want %v", got, want)
		}
		return nil
	})
	if !revokedToken(s, "long") {
		t.Fatal("a live entry left the cache")
	}
	if revokedToken(s, "short") {
		t.Fatal("an expired entry still rejects")
	}
	if err := s.Check(&Claims{ID: "j", SessionID: "s", Subject: "long-u", IssuedAt: t0.Add(-time.Second)}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("live subject entry lost: %v", err)
	}
}

func TestRedisKill9LosesNothing(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"})
	store := redisstore.New(r.Client(t))
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv, err := revoker.New(n.Connect(t), store)
	if err != nil {
		t.Fatal(err)
	}
	var acked []string
	for i := 0; i < 500; i++ {
		id := fmt.Sprintf("durable-%d", i)
		if _, err := rv.Revoke(context.Background(), tokenRev(id)); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, id)
	}
	r.Kill(t)
	if _, err := rv.Revoke(context.Background(), tokenRev("while-down")); err == nil {
		t.Fatal("Revoke succeeded with Redis down")
	}
	r.Restart(t)
	s, err := New(n.Connect(t), store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start(t, s)
	for _, id := range acked {
		if !revokedToken(s, id) {
			t.Fatalf("acknowledged revocation %s lost across kill -9", id)
		}
	}
	if revokedToken(s, "while-down") {
		t.Fatal("a revocation that failed is applied")
	}
}

func TestStartRetriesWhileStoreDown(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"})
	e := &env{redis: r, store: redisstore.New(r.Client(t))}
	if err := e.store.Append(context.Background(), []events.Revocation{{Kind: events.KindToken, ID: "x",
		RevokedAt: time.Now(), DropAfter: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	e.redis.Stop(t)
	var mu sync.Mutex
	failures := 0
	s := e.subscriber(t, nil, WithErrorHandler(func(error) { mu.Lock(); failures++; mu.Unlock() }))
	done := make(chan error, 1)
	go func() { done <- s.Start(context.Background()) }()
	testenv.WaitFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if failures < 2 {
			return errors.New("no retries yet")
		}
		return nil
	})
	e.redis.Restart(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not become ready after the store came back")
	}
	if !revokedToken(s, "x") {
		t.Fatal("snapshot not loaded")
	}
}

func TestOptionsRejected(t *testing.T) {
	for i, o := range []Option{WithPrefix(""), WithHeartbeatBound(0), WithPollInterval(-1), WithFreshnessBound(0),
		WithGapWait(0), WithSweepInterval(0), WithPendingLimits(0, 1), WithCatchUpBatch(0), WithClock(nil),
		WithErrorHandler(nil), WithLogger(nil)} {
		if _, err := New(nil, &redisstore.Store{}, o); !errors.Is(err, ErrOption) {
			t.Errorf("option %d: New = %v, want ErrOption", i, err)
		}
	}
	if _, err := New(nil, nil); !errors.Is(err, ErrOption) {
		t.Error("nil source accepted")
	}
}

func TestOnRevoke(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv := e.revoker(t, n.Connect(t))
	if _, err := rv.Revoke(context.Background(), tokenRev("in-snapshot")); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	s := e.subscriber(t, n.Connect(t), WithOnRevoke(func(r events.Revocation) { mu.Lock(); seen[r.ID]++; mu.Unlock() }))
	start(t, s)
	for i := 0; i < 20; i++ {
		if _, err := rv.Revoke(context.Background(), events.Revocation{Kind: events.KindSession, ID: fmt.Sprintf("s-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 20 {
			return fmt.Errorf("%d of 20 reported", len(seen))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if seen["in-snapshot"] != 0 {
		t.Fatal("a snapshot entry was reported to OnRevoke")
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s reported %d times", id, n)
		}
	}
}
