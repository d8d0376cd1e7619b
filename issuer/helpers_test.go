package issuer_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/nats-io/nats.go"
	"github.com/revocast/revocast/events"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revocast/revocast/issuer"
)

// testHash are cheap argon2id parameters for tests (64 KiB, one pass): the production default is
// 19 MiB and two passes.
var testHash = issuer.HashParams{Algorithm: "argon2id", Memory: 64, Time: 1, Threads: 1}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeUsers writes a users file with alice (admin), bob and carol (bcrypt).
func writeUsers(t testing.TB, dir string) string {
	t.Helper()
	hash := func(pw string, p issuer.HashParams) string {
		h, err := issuer.HashPassword(pw, p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	f := map[string]any{"users": []map[string]any{
		{"username": "alice", "password_hash": hash("alice-pw", testHash), "roles": []string{"admin"}, "name": "Alice", "email": "alice@example.com"},
		{"username": "bob", "password_hash": hash("bob-pw", testHash), "roles": []string{"user"}, "name": "Bob"},
		{"username": "carol", "password_hash": hash("carol-pw", issuer.HashParams{Algorithm: "bcrypt", Cost: 4})},
	}}
	b, _ := json.Marshal(f)
	path := filepath.Join(dir, "users.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// env is an issuer served by httptest, with its dependencies.
type env struct {
	t     testing.TB
	is    *issuer.Issuer
	srv   *httptest.Server
	clock *fakeClock
	store issuer.SessionStore
	mem   *memStore   // nil unless the in-memory store is used
	rev   *memRevoker // nil unless the in-memory revoker is used
	revkr issuer.Revoker
	logs  *syncBuffer
	cfg   issuer.Config

	// set by the real-server environments
	storeFail   func(error)
	revokerFail func(error)
	readLog     func(t testing.TB) []events.Revocation
	nc          *nats.Conn
	subject     string
}

type envOption func(*issuer.Config)

// newEnv starts an issuer on the in-memory store and revoker with a fake clock, unless the options
// say otherwise.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, clock: newFakeClock(), logs: &syncBuffer{}}
	cfg := issuer.Config{
		KeysDir:         filepath.Join(dir, "keys"),
		Users:           writeUsers(t, dir),
		PasswordHash:    testHash,
		Clock:           e.clock.Now,
		Logger:          slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		InsecureCookies: true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Sessions == nil {
		e.mem = newMemStore()
		cfg.Sessions = e.mem
	}
	if cfg.Revoker == nil {
		e.rev = &memRevoker{}
		cfg.Revoker = e.rev
	}
	e.store, e.revkr, e.cfg = cfg.Sessions, cfg.Revoker, cfg
	is, err := issuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.is = is
	e.srv = httptest.NewServer(is)
	t.Cleanup(func() {
		e.srv.Close()
		is.Close()
		if strings.Contains(e.logs.String(), "pw\"") {
			t.Error("a password reached the log")
		}
	})
	return e
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r *resp) str(k string) string { s, _ := r.body[k].(string); return s }

// do sends a request. body is JSON-encoded unless it is a string or nil; hdr is name, value pairs.
func (e *env) do(method, path string, body any, hdr ...string) *resp {
	e.t.Helper()
	return e.doClient(http.DefaultClient, method, path, body, hdr...)
}

func (e *env) doClient(c *http.Client, method, path string, body any, hdr ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

// login logs user in and returns the answer, failing the test unless it is 200.
func (e *env) login(user string) *resp {
	e.t.Helper()
	r := e.do("POST", "/v1/login", map[string]string{"username": user, "password": user + "-pw"})
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	return r
}

func (e *env) refresh(token string) *resp {
	e.t.Helper()
	return e.do("POST", "/v1/refresh", map[string]string{"refresh_token": token})
}

func bearerHdr(access string) []string { return []string{"Authorization", "Bearer " + access} }

// jarClient returns a client with a cookie jar, as a browser.
func jarClient(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// claimsOf decodes the payload of a JWT without verifying it.
func claimsOf(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := b64url(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64url(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// iatOf returns the iat claim of token, read exactly to the microsecond.
func iatOf(t testing.TB, token string) time.Time {
	t.Helper()
	n := claimsOf(t, token)["iat"].(json.Number)
	sec, frac, _ := strings.Cut(string(n), ".")
	for len(frac) < 6 {
		frac += "0"
	}
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || len(frac) > 6 {
		t.Fatalf("iat %s", n)
	}
	return time.UnixMicro(s*1e6 + us).UTC()
}

// failStore makes every call of the session store fail with err (nil heals it).
func (e *env) failStore(err error) {
	e.t.Helper()
	if e.mem != nil {
		e.mem.setFail(err)
		return
	}
	if e.storeFail == nil {
		e.t.Fatal("no failure injection for this store")
	}
	e.storeFail(err)
}

// failRevoker makes every revocation fail with err (nil heals it).
func (e *env) failRevoker(err error) {
	e.t.Helper()
	if e.rev != nil {
		e.rev.setFail(err)
		return
	}
	if e.revokerFail == nil {
		e.t.Fatal("no failure injection for this revoker")
	}
	e.revokerFail(err)
}

// revocations returns the revocations made so far.
func (e *env) revocations(t testing.TB) []events.Revocation {
	t.Helper()
	if e.rev != nil {
		return e.rev.all()
	}
	return e.readLog(t)
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
