package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/issuer/redissession"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// servers are one real redis-server and one embedded nats-server shared by the subtests of a test;
// each issuer gets its own key prefix and subject prefix on them.
type servers struct {
	redis *testenv.Redis
	nats  *testenv.NATS
	n     atomic.Int64
}

func startServers(t testing.TB) *servers {
	return &servers{redis: testenv.StartRedis(t, testenv.RedisOptions{}), nats: testenv.StartNATS(t, testenv.NATSOptions{})}
}

// failingStore and failingRevoker inject failures at the interface boundary, in front of the real
// Redis store and revoker.
type failingStore struct {
	issuer.SessionStore
	fail atomic.Pointer[error]
}

func (f *failingStore) err() error {
	if p := f.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *failingStore) Create(ctx context.Context, s issuer.Session) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.SessionStore.Create(ctx, s)
}

func (f *failingStore) Get(ctx context.Context, sid string) (issuer.Session, error) {
	if err := f.err(); err != nil {
		return issuer.Session{}, err
	}
	return f.SessionStore.Get(ctx, sid)
}

func (f *failingStore) Rotate(ctx context.Context, sid, p, n string, now time.Time, g time.Duration) (issuer.Session, error) {
	if err := f.err(); err != nil {
		return issuer.Session{}, err
	}
	return f.SessionStore.Rotate(ctx, sid, p, n, now, g)
}

func (f *failingStore) Delete(ctx context.Context, sid string) (bool, error) {
	if err := f.err(); err != nil {
		return false, err
	}
	return f.SessionStore.Delete(ctx, sid)
}

func (f *failingStore) ListByUser(ctx context.Context, sub string, now time.Time) ([]issuer.Session, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.SessionStore.ListByUser(ctx, sub, now)
}

func (f *failingStore) DeleteAllByUser(ctx context.Context, sub string) (int, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.SessionStore.DeleteAllByUser(ctx, sub)
}

func (f *failingStore) Ping(ctx context.Context) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.SessionStore.(issuer.Pinger).Ping(ctx)
}

type failingRevoker struct {
	issuer.Revoker
	fail atomic.Pointer[error]
}

func (f *failingRevoker) Revoke(ctx context.Context, rev events.Revocation) (uint64, error) {
	if p := f.fail.Load(); p != nil && *p != nil {
		return 0, *p
	}
	return f.Revoker.Revoke(ctx, rev)
}

// env returns an issuer on real Redis (sessions and revocation log) and the real revoker
// publishing on real NATS.
func (s *servers) env(t *testing.T, opts ...envOption) *env { return s.envTB(t, opts...) }

// envTB is env for tests and benchmarks.
func (s *servers) envTB(t testing.TB, opts ...envOption) *env {
	id := s.n.Add(1)
	prefix := fmt.Sprintf("t%d", id)
	// No retries: a stopped Redis fails fast (TestRedisDown).
	client := redis.NewClient(&redis.Options{Addr: s.redis.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	log := redisstore.New(client, redisstore.WithPrefix(prefix))
	return wireEnv(t, s.nats.Connect(t), log, redissession.New(redisstore.NewSessions(client, redisstore.WithSessionsPrefix(prefix))), id, opts...)
}

// testLog is what wireEnv needs from a revocation store.
type testLog interface {
	revoker.Log
	After(ctx context.Context, after uint64, limit int) ([]events.Revocation, uint64, error)
}

// wireEnv returns an issuer on the given stores with the real revoker publishing on nc under the
// subject prefix "revocast.t<id>", and failure injection in front of the store and the revoker.
func wireEnv(t testing.TB, nc *nats.Conn, log testLog, sessions issuer.SessionStore, id int64, opts ...envOption) *env {
	rv, err := revoker.New(nc, log, revoker.WithPrefix("revocast.t"+fmt.Sprint(id)))
	if err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{SessionStore: sessions}
	fr := &failingRevoker{Revoker: rv}
	ready := issuer.PingFunc(func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("nats not connected")
		}
		_, err := log.Head(ctx)
		return err
	})
	all := append([]envOption{func(c *issuer.Config) {
		c.Sessions, c.Revoker = fs, fr
		c.Ready = append(c.Ready, ready)
	}}, opts...)
	e := newEnv(t, all...)
	e.storeFail = func(err error) { fs.fail.Store(&err) }
	e.revokerFail = func(err error) { fr.fail.Store(&err) }
	e.readLog = func(t testing.TB) []events.Revocation {
		recs, _, err := log.After(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	e.nc, e.subject = nc, events.RevocationSubject("revocast.t"+fmt.Sprint(id))
	return e
}

// TestEndpointsRedis runs the endpoint table against real Redis, the real revoker and real NATS.
func TestEndpointsRedis(t *testing.T) {
	s := startServers(t)
	runEndpointTable(t, s.env)
}

func TestConcurrentRefreshRedis(t *testing.T) { testConcurrentRefresh(t, startServers(t).env) }
func TestTheftDetectionRedis(t *testing.T)    { testTheftDetection(t, startServers(t).env) }
func TestLogoutAllThenLoginRedis(t *testing.T) {
	testLogoutAllThenLogin(t, startServers(t).env)
}
func TestSilentRefreshRedis(t *testing.T) { testSilentRefresh(t, startServers(t).env) }

// TestTheftBroadcast: the session revocation of a detected theft is appended to the Redis log and
// published on NATS, where a subscriber of the revocation subject receives it. (The check that a
// subscriber.Subscriber then rejects the session's last access token belongs with the subscriber
// package's end-to-end tests.)
func TestTheftBroadcast(t *testing.T) {
	e := startServers(t).env(t)
	got := make(chan events.Revocation, 4)
	sub, err := e.nc.Subscribe(e.subject, func(m *nats.Msg) {
		if r, err := events.DecodeRevocation(m.Data); err == nil {
			got <- r
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	l := e.login("bob")
	r1 := e.refresh(l.str("refresh_token"))
	e.clock.Advance(11 * time.Second)
	if r := e.refresh(l.str("refresh_token")); r.status != 401 {
		t.Fatalf("reuse: %d", r.status)
	}
	select {
	case rev := <-got:
		if rev.Kind != events.KindSession || rev.ID != l.str("session_id") || rev.Seq == 0 {
			t.Fatalf("published %+v", rev)
		}
		logged := e.revocations(t)
		if len(logged) != 1 || logged[0].Seq != rev.Seq {
			t.Fatalf("log %+v, published seq %d", logged, rev.Seq)
		}
		c := claimsOf(t, r1.str("access_token"))
		if !rev.Matches(c["jti"].(string), c["sid"].(string), "bob", time.Now()) {
			t.Error("the published revocation does not match the session's last access token")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no revocation published")
	}
}

// TestRedisDown: with Redis stopped, login, refresh and logout answer 503 with Retry-After, never
// success, and /readyz answers 503; after a restart everything works again.
func TestRedisDown(t *testing.T) {
	s := &servers{redis: testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"}),
		nats: testenv.StartNATS(t, testenv.NATSOptions{})}
	e := s.env(t)
	l := e.login("bob")
	s.redis.Stop(t)
	for _, tc := range []struct {
		name string
		r    *resp
	}{
		{"login", e.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "bob-pw"})},
		{"refresh", e.refresh(l.str("refresh_token"))},
		{"logout", e.do("POST", "/v1/logout", nil, bearerHdr(l.str("access_token"))...)},
		{"logout-all", e.do("POST", "/v1/logout-all", nil, bearerHdr(l.str("access_token"))...)},
		{"readyz", e.do("GET", "/readyz", nil)},
	} {
		if tc.r.status != 503 || tc.r.header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %s (Retry-After %q)", tc.name, tc.r.status, tc.r.raw, tc.r.header.Get("Retry-After"))
		}
	}
	s.redis.Restart(t)
	testenv.WaitFor(t, 10*time.Second, func() error {
		if r := e.do("GET", "/readyz", nil); r.status != 200 {
			return fmt.Errorf("readyz %d", r.status)
		}
		return nil
	})
	if r := e.refresh(l.str("refresh_token")); r.status != 200 {
		t.Errorf("refresh after restart: %d (the failed logout must not have ended the session)", r.status)
	}
}
