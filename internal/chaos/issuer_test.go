package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/issuer/redissession"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

// users writes a users file with alice and bob (password "revocast", cheap argon2id).
func users(t *testing.T, dir string) string {
	t.Helper()
	hash, err := issuer.HashPassword("revocast", issuer.HashParams{Algorithm: "argon2id", Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"users":[{"username":"alice","password_hash":%q,"roles":["admin"]},{"username":"bob","password_hash":%q}]}`, hash, hash)
	path := filepath.Join(dir, "users.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// call makes one JSON request and returns the status, the Retry-After header and the body.
func call(t *testing.T, method, url, bearer string) (int, string, map[string]any) {
	t.Helper()
	var body io.Reader
	if method == "POST" && strings.HasSuffix(url, "/v1/login") {
		body = strings.NewReader(`{"username":"alice","password":"revocast"}`)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header.Get("Retry-After"), m
}

func login(t *testing.T, base string) (access, sid string) {
	t.Helper()
	code, _, m := call(t, "POST", base+"/v1/login", "")
	if code != 200 {
		t.Fatalf("login: %d %v", code, m)
	}
	return m["access_token"].(string), m["session_id"].(string)
}

// TestIssuerKilledBetweenWriteAndPublish: the real binary. Issuer A's NATS connection goes
// half-open, so a logout it answers 204 is durable in Redis but its event is stuck in the
// connection; A is then killed with SIGKILL and the stuck bytes are dropped: the event never
// reaches NATS. Issuer B's heartbeats carry the store's head, so every subscriber finds the
// revocation in the store. Subscribers run with the default protocol settings.
func TestIssuerKilledBetweenWriteAndPublish(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "revocast")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/revocast").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	p := testenv.StartProxy(t, strings.TrimPrefix(n.URL(), "nats://"))
	dir := t.TempDir()
	usersFile, keys := users(t, dir), filepath.Join(dir, "keys")
	start := func(natsURL string) (string, *exec.Cmd) {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cmd := exec.Command(bin, "issuer", "--http", addr, "--nats", natsURL, "--redis", r.URL(), "--users", usersFile,
			"--keys", keys, "--insecure-cookies", "--argon2-memory", "64", "--argon2-time", "1", "--log-level", "warn")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		testenv.WaitFor(t, 15*time.Second, func() error {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("readyz %d", resp.StatusCode)
			}
			return nil
		})
		return "http://" + addr, cmd
	}
	a, acmd := start(p.URL("nats"))
	b, _ := start(n.URL())
	store := redisstore.New(r.Client(t))
	h := NewHistory(5 * time.Second) // default heartbeat interval and bound: found within ~1-3 s
	var subs []*subscriber.Subscriber
	for i := range 2 {
		s := startSub(t, n.Connect(t), store)
		subs = append(subs, s)
		h.Watch(fmt.Sprint("sub-", i), tokenRevoked(s))
	}
	// A few ordinary logouts through both issuers.
	for _, base := range []string{a, b, a, b} {
		access, sid := login(t, base)
		if code, _, m := call(t, "POST", base+"/v1/logout", access); code != 204 {
			t.Fatalf("logout: %d %v", code, m)
		}
		h.Ack("sid:"+sid, 0)
	}
	// The fault: A's link goes silent, A acknowledges a logout, A dies, its buffered bytes are lost.
	for range 3 {
		access, sid := login(t, a)
		p.Blackhole()
		if code, _, m := call(t, "POST", a+"/v1/logout", access); code != 204 {
			t.Fatalf("logout at A with its NATS link cut: %d %v", code, m)
		}
		h.Ack("sid:"+sid, 0)
		_ = acmd.Process.Signal(syscall.SIGKILL)
		_ = acmd.Wait()
		p.CloseAll() // the held bytes (the event) die with the connection
		p.Restore()
		a, acmd = start(p.URL("nats"))
	}
	report(t, "issuer kill -9 between store write and publish (real binary)", h.Verify())
	for i, s := range subs { // the lost events were found in the store, not on NATS
		if st := s.Stats(); st.Resyncs[subscriber.ReasonGap]+st.Resyncs[subscriber.ReasonHeartbeatAhead] == 0 {
			t.Errorf("sub-%d never caught up from the store: %+v", i, st.Resyncs)
		}
	}
}

// TestRedisSlowAndDownDuringLogout: the issuer's Redis is slow (200 ms each way), then
// unresponsive (a black hole), then down. A logout answers 204 only when the revocation is
// durable: 503 with Retry-After otherwise, never a false 204. Every 204 reaches the subscribers.
// A subscriber cold-starting while Redis is down retries with backoff and is ready once it is back.
func TestRedisSlowAndDownDuringLogout(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	p := testenv.StartProxy(t, r.Addr)
	slow := redis.NewClient(&redis.Options{Addr: p.Addr(), ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { slow.Close() })
	rv, err := revoker.New(n.Connect(t), redisstore.New(slow), revoker.WithHeartbeatInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	heartbeats(t, rv)
	dir := t.TempDir()
	is, err := issuer.New(issuer.Config{KeysDir: filepath.Join(dir, "keys"), Users: users(t, dir), InsecureCookies: true,
		Sessions: redissession.New(redisstore.NewSessions(slow)), Revoker: rv,
		PasswordHash: issuer.HashParams{Algorithm: "argon2id", Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(is)
	t.Cleanup(srv.Close)
	store := redisstore.New(r.Client(t))
	h := NewHistory(bound)
	h.Watch("sub", tokenRevoked(startSub(t, n.Connect(t), store, quick()...)))

	logoutOK := func(phase string) {
		access, sid := login(t, srv.URL)
		code, _, m := call(t, "POST", srv.URL+"/v1/logout", access)
		if code != 204 {
			t.Fatalf("%s: logout %d %v", phase, code, m)
		}
		h.Ack("sid:"+sid, 0)
	}
	logoutOK("normal")
	p.SetLatency(200 * time.Millisecond)
	for range 3 {
		logoutOK("slow Redis")
	}
	p.SetLatency(0)

	// Unresponsive, then down: a logged-in user's logout must be refused with 503 + Retry-After.
	for _, fault := range []string{"black hole", "down"} {
		access, sid := login(t, srv.URL)
		if fault == "black hole" {
			p.Blackhole()
		} else {
			r.Stop(t)
		}
		code, retry, m := call(t, "POST", srv.URL+"/v1/logout", access)
		if code == 204 {
			t.Fatalf("Redis %s: logout answered 204: a false success", fault)
		}
		if code != 503 || retry == "" {
			t.Fatalf("Redis %s: logout %d (Retry-After %q) %v, want 503 with Retry-After", fault, code, retry, m)
		}
		if fault == "black hole" {
			p.Restore()
		} else {
			r.Restart(t)
		}
		// The user retries, as told: now it is durable.
		testenv.WaitFor(t, 10*time.Second, func() error {
			if code, _, _ := call(t, "POST", srv.URL+"/v1/logout", access); code != 204 {
				return fmt.Errorf("retry after Redis %s: %d", fault, code)
			}
			return nil
		})
		h.Ack("sid:"+sid, 0)
	}

	// A subscriber cold-starting while Redis is down retries, then is ready.
	r.Stop(t)
	cold, err := subscriber.New(n.Connect(t), store, quick()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cold.Close() })
	ready := make(chan error, 1)
	go func() { ready <- cold.Start(context.Background()) }()
	time.Sleep(time.Second)
	select {
	case err := <-ready:
		t.Fatalf("Start returned %v while Redis was down", err)
	default:
	}
	r.Restart(t)
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the subscriber did not become ready after Redis came back")
	}
	h.Watch("cold-start-while-down", tokenRevoked(cold))
	report(t, "Redis slow (200 ms), unresponsive and down during logout; cold start while down", h.Verify())
}

// TestClockSkew: the issuer's clock is ahead of or behind the subscriber's. Within the verifier's
// leeway (30 s) tokens are accepted, and a revocation holds until the token is expired by the
// subscriber's clock (DropAfter adds the leeway); beyond the leeway the token is rejected with a
// clear reason.
func TestClockSkew(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	for _, c := range []struct {
		skew time.Duration // issuer clock minus subscriber clock
		want string        // "" accepted, else the rejection
	}{
		{-25 * time.Second, ""},
		{25 * time.Second, ""},
		{45 * time.Second, "token not valid yet"}, // nbf = iat, 15 s beyond the leeway
		{-6 * time.Minute, "token expired"},
	} {
		t.Run(fmt.Sprint(c.skew), func(t *testing.T) {
			var now atomic.Int64 // the subscriber's clock, moved by the test
			now.Store(time.Now().UnixNano())
			subClock := func() time.Time { return time.Unix(0, now.Load()) }
			issuerClock := func() time.Time { return subClock().Add(c.skew) }
			rv, err := revoker.New(n.Connect(t), store, revoker.WithClock(issuerClock), revoker.WithLeeway(30*time.Second),
				revoker.WithMaxTokenLifetime(issuer.DefaultAccessTTL))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			is, err := issuer.New(issuer.Config{KeysDir: filepath.Join(dir, "keys"), Users: users(t, dir), InsecureCookies: true,
				Clock: issuerClock, Sessions: redissession.New(redisstore.NewSessions(r.Client(t))), Revoker: rv,
				PasswordHash: issuer.HashParams{Algorithm: "argon2id", Memory: 64, Time: 1, Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(is)
			defer srv.Close()
			sub := startSub(t, n.Connect(t), store, subscriber.WithClock(subClock), subscriber.WithSweepInterval(time.Millisecond))
			v, err := subscriber.NewVerifier(context.Background(), subscriber.WithJWKS(srv.URL+"/.well-known/jwks.json"),
				subscriber.WithVerifierClock(subClock), subscriber.WithIssuer(issuer.DefaultIssuer), subscriber.WithAudience(issuer.DefaultAudience))
			if err != nil {
				t.Fatal(err)
			}
			auth := subscriber.NewAuthenticator(v, sub)
			access, _ := login(t, srv.URL)
			_, err = auth.Authenticate(context.Background(), access)
			if c.want != "" {
				if err == nil || subscriber.Describe(err) != c.want {
					t.Fatalf("skew %v: %v (%q), want rejected as %q", c.skew, err, subscriber.Describe(err), c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("skew %v within the leeway: rejected: %v", c.skew, err)
			}
			if code, _, m := call(t, "POST", srv.URL+"/v1/logout", access); code != 204 {
				t.Fatalf("logout: %d %v", code, m)
			}
			testenv.WaitFor(t, 5*time.Second, func() error {
				if _, err := auth.Authenticate(context.Background(), access); !errors.Is(err, subscriber.ErrRevoked) {
					return fmt.Errorf("after logout: %v", err)
				}
				return nil
			})
			// Walk the subscriber's clock to the last moment its verifier still accepts the token
			// (exp + leeway by its clock): the revocation must still hold (sweeps run every ms).
			claims, err := v.Verify(context.Background(), access)
			if err != nil {
				t.Fatal(err)
			}
			now.Store(claims.ExpiresAt.Add(30*time.Second - time.Second).UnixNano())
			time.Sleep(50 * time.Millisecond)
			if _, err := auth.Authenticate(context.Background(), access); !errors.Is(err, subscriber.ErrRevoked) {
				t.Fatalf("skew %v: 1 s before the token expires for the subscriber: %v, want revoked", c.skew, err)
			}
			now.Store(claims.ExpiresAt.Add(31 * time.Second).UnixNano())
			if _, err := auth.Authenticate(context.Background(), access); subscriber.Describe(err) != "token expired" {
				t.Fatalf("skew %v: after expiry: %v", c.skew, err)
			}
		})
	}
}
