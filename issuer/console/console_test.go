package console_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/issuer/console"
	"github.com/revocast/revocast/issuer/redissession"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type rig struct {
	srv  *httptest.Server
	c    *console.Console
	demo *httptest.Server
}

// newRig runs the console over a real issuer (Redis sessions and log, NATS events) and a fake
// demo service that echoes the cookies it got and rejects everything once told to.
func newRig(t testing.TB) *rig {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rv, err := revoker.New(n.Connect(t), redisstore.New(r.Client(t)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hash, _ := issuer.HashPassword("pw", issuer.HashParams{Algorithm: "argon2id", Memory: 64, Time: 1, Threads: 1})
	users := fmt.Sprintf(`{"users":[{"username":"alice","password_hash":%q,"roles":["admin"]},{"username":"bob","password_hash":%q}]}`, hash, hash)
	if err := os.WriteFile(filepath.Join(dir, "users.json"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	sessions := redissession.New(redisstore.NewSessions(r.Client(t)))
	is, err := issuer.New(issuer.Config{KeysDir: filepath.Join(dir, "keys"), Users: filepath.Join(dir, "users.json"),
		Sessions: sessions, Revoker: rv, InsecureCookies: true,
		PasswordHash: issuer.HashParams{Algorithm: "argon2id", Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{Issuer: is, API: is, Sessions: sessions, NATS: n.Connect(t)})
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{c: c, srv: httptest.NewServer(c)}
	rg.demo = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "" { // the probe: after a logout the token is revoked
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"path":%q,"cookie":%q,"request_id":%q}`, r.URL.Path, r.Header.Get("Cookie"), r.Header.Get("X-Request-Id"))
	}))
	t.Cleanup(func() { rg.srv.Close(); rg.demo.Close(); _ = c.Close(); _ = is.Close() })
	return rg
}

func (rg *rig) login(t *testing.T, user string) []*http.Cookie {
	t.Helper()
	resp, err := http.Post(rg.srv.URL+"/v1/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"pw","cookie_only":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
	return resp.Cookies()
}

func (rg *rig) get(t *testing.T, method, path string, cookies []*http.Cookie, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, rg.srv.URL+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestEndpoints: the console's own routes, and everything else falls through to the issuer.
func TestEndpoints(t *testing.T) {
	rg := newRig(t)
	alice := rg.login(t, "alice")
	for _, c := range []struct {
		method, path string
		cookies      []*http.Cookie
		want         int
		contains     string
	}{
		{"GET", "/", nil, 200, `<script src="/console/app.js"`},
		{"HEAD", "/", nil, 200, ""},
		{"POST", "/", nil, 405, "method_not_allowed"}, // the issuer's error table
		{"GET", "/console/app.js", nil, 200, "cookie_only"},
		{"GET", "/console/style.css", nil, 200, "--accent"},
		{"GET", "/console/nope.js", nil, 404, ""},
		{"GET", "/console/../../go.mod", nil, 404, ""},
		{"GET", "/v1/console/whoami", alice, 404, "no demo service configured"},
		{"GET", "/v1/events", nil, 401, "invalid_token"},
		{"GET", "/v1/events", []*http.Cookie{{Name: "revocast_at", Value: "junk"}}, 401, "invalid_token"},
		{"POST", "/v1/events", alice, 405, ""},
		{"GET", "/.well-known/jwks.json", nil, 200, `"keys"`},
	} {
		resp := rg.get(t, c.method, c.path, c.cookies)
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		if resp.StatusCode != c.want || !strings.Contains(b.String(), c.contains) {
			t.Errorf("%s %s: %d %q, want %d containing %q", c.method, c.path, resp.StatusCode, b.String(), c.want, c.contains)
		}
	}
	if csp := rg.get(t, "GET", "/", nil).Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	js := rg.get(t, "GET", "/console/app.js", nil)
	var b strings.Builder
	_, _ = bufio.NewReader(js.Body).WriteTo(&b)
	for _, bad := range []string{"access_token", "refresh_token", "localStorage", "sessionStorage"} {
		if strings.Contains(b.String(), bad) {
			t.Errorf("app.js mentions %s: the page must never handle a token", bad)
		}
	}

	// With a demo service: whoami is proxied with the cookies, an Authorization header dropped.
	if err := rg.c.SetDemoURL(rg.demo.URL); err != nil {
		t.Fatal(err)
	}
	resp := rg.get(t, "GET", "/v1/console/whoami?x=1", alice, "Authorization", "Basic x", "X-Request-Id", "req-1")
	var who map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&who)
	if resp.StatusCode != 200 || who["path"] != "/whoami" || !strings.Contains(who["cookie"], "revocast_at=") || who["request_id"] != "" && who["request_id"] != "req-1" {
		t.Fatalf("whoami through the console: %d %v", resp.StatusCode, who)
	}
	for _, bad := range []string{"ftp://x", "http://", "::"} {
		if err := rg.c.SetDemoURL(bad); err == nil {
			t.Errorf("SetDemoURL(%q) accepted", bad)
		}
	}
	// A timed logout says when the demo service rejected the old token.
	resp = rg.get(t, "POST", "/v1/logout", alice, "X-Revocast-Probe", "1")
	if resp.StatusCode != 204 || resp.Header.Get("X-Revocast-Rejected-After-Ms") == "" {
		t.Fatalf("probed logout: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestEventStream: bob sees his own session's revocation and not alice's; alice (admin) sees both;
// Close ends the streams.
func TestEventStream(t *testing.T) {
	rg := newRig(t)
	alice, bob := rg.login(t, "alice"), rg.login(t, "bob")
	bob2 := rg.login(t, "bob")
	stream := func(cookies []*http.Cookie) <-chan map[string]any {
		resp := rg.get(t, "GET", "/v1/events", cookies)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		ch := make(chan map[string]any, 16)
		go func() {
			defer close(ch)
			sc := bufio.NewScanner(resp.Body)
			event := ""
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "event: "); ok {
					event = v
				}
				if v, ok := strings.CutPrefix(line, "data: "); ok {
					var m map[string]any
					_ = json.Unmarshal([]byte(v), &m)
					m["event"] = event
					ch <- m
				}
			}
		}()
		return ch
	}
	next := func(ch <-chan map[string]any) map[string]any {
		select {
		case m := <-ch:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
			return nil
		}
	}
	as, bs := stream(alice), stream(bob)
	if h := next(as); h["event"] != "hello" || h["admin"] != true {
		t.Fatalf("alice hello %v", h)
	}
	if h := next(bs); h["event"] != "hello" || h["admin"] != false {
		t.Fatalf("bob hello %v", h)
	}
	// alice logs out: alice sees it; bob must not.
	if resp := rg.get(t, "POST", "/v1/logout", alice); resp.StatusCode != 204 {
		t.Fatalf("alice logout %d", resp.StatusCode)
	}
	if m := next(as); m["kind"] != "session" || m["own"] != true || m["reason"] != "logout" {
		t.Fatalf("alice's feed: %v", m)
	}
	// bob's second session is revoked: bob's feed shows it, and alice (admin) sees it too.
	if resp := rg.get(t, "POST", "/v1/logout", bob2); resp.StatusCode != 204 {
		t.Fatalf("bob logout %d", resp.StatusCode)
	}
	if m := next(bs); m["kind"] != "session" || m["own"] != true || m["current"] != false {
		t.Fatalf("bob's feed: %v (alice's revocation must not be in it)", m)
	}
	if m := next(as); m["kind"] != "session" || m["own"] != false {
		t.Fatalf("alice's (admin) feed: %v", m)
	}
	_ = rg.c.Close()
	for _, ch := range []<-chan map[string]any{as, bs} {
		select {
		case _, ok := <-ch:
			for ok {
				_, ok = <-ch
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a stream outlived Close")
		}
	}
}

// FuzzRequest: any method, path and cookie the console gets is answered without a panic and
// without a 5xx (the stores are up).
func FuzzRequest(f *testing.F) {
	for _, s := range [][3]string{{"GET", "/", ""}, {"GET", "/v1/events", "x.y.z"}, {"POST", "/v1/logout", "a"},
		{"DELETE", "/v1/sessions/x", ""}, {"GET", "/console/%2e%2e/x", ""}, {"GET", "/v1/console/whoami", "junk"}} {
		f.Add(s[0], s[1], s[2])
	}
	rg := newRig(f)
	f.Fuzz(func(t *testing.T, method, path, cookie string) {
		req, err := http.NewRequest(method, "http://console"+path, nil)
		if err != nil || req.URL.Path == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		req.AddCookie(&http.Cookie{Name: "revocast_at", Value: cookie})
		req.Header.Set("X-Revocast-Probe", "1")
		w := httptest.NewRecorder()
		rg.c.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, w.Code, w.Body)
		}
	})
}
