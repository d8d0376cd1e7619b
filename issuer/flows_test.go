package issuer_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/subscriber"
)

type envMaker func(t *testing.T, opts ...envOption) *env

func memEnv(t *testing.T, opts ...envOption) *env { return newEnv(t, opts...) }

func TestConcurrentRefresh(t *testing.T) { testConcurrentRefresh(t, memEnv) }
func TestTheftDetection(t *testing.T)    { testTheftDetection(t, memEnv) }
func TestLogoutAllThenLogin(t *testing.T) {
	testLogoutAllThenLogin(t, memEnv)
}
func TestSilentRefresh(t *testing.T) { testSilentRefresh(t, memEnv) }

// testConcurrentRefresh: N goroutines refresh with the same refresh token at once. All succeed (the
// first rotates, the others present the predecessor within the grace window), no 500; exactly one
// of the refresh tokens handed out is the current one and keeps the chain going; the others are
// refused without killing the session.
func testConcurrentRefresh(t *testing.T, mk envMaker) {
	const n = 16
	e := mk(t)
	l := e.login("bob")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
		codes  = map[int]int{}
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.refresh(l.str("refresh_token"))
			mu.Lock()
			defer mu.Unlock()
			codes[r.status]++
			if r.status == 200 {
				tokens = append(tokens, r.str("refresh_token"))
			}
		}()
	}
	close(start)
	wg.Wait()
	if codes[200] != n {
		t.Fatalf("status counts %v, want %d x 200", codes, n)
	}
	var survivor string
	var orphans []string
	for _, tok := range tokens {
		if e.isCurrent(t, l.str("session_id"), tok) {
			if survivor != "" {
				t.Fatal("two current tokens")
			}
			survivor = tok
		} else {
			orphans = append(orphans, tok)
		}
	}
	if survivor == "" || len(orphans) != n-1 {
		t.Fatalf("survivor %v, %d orphans", survivor != "", len(orphans))
	}
	// An orphan is refused but does not kill the session.
	if r := e.refresh(orphans[0]); r.status != 401 {
		t.Errorf("orphan: %d", r.status)
	}
	r := e.refresh(survivor)
	if r.status != 200 {
		t.Fatalf("the surviving chain: %d %s", r.status, r.raw)
	}
	if r := e.refresh(r.str("refresh_token")); r.status != 200 {
		t.Fatalf("the chain goes on: %d", r.status)
	}
	if revs := e.revocations(t); len(revs) != 0 {
		t.Errorf("revocations %+v", revs)
	}
}

// isCurrent reports whether tok is the current refresh token of session sid.
func (e *env) isCurrent(t testing.TB, sid, tok string) bool {
	t.Helper()
	s, err := e.store.Get(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	return s.RefreshHash == issuer.RefreshHash(tok)
}

// testTheftDetection: within the grace window the predecessor works; after it, presenting the
// predecessor answers 401, revokes the session (kind session, reason refresh_reuse) and ends it.
func testTheftDetection(t *testing.T, mk envMaker) {
	e := mk(t)
	l := e.login("bob")
	sid := l.str("session_id")
	r1 := e.refresh(l.str("refresh_token"))
	if r1.status != 200 {
		t.Fatal(r1.raw)
	}
	e.clock.Advance(5 * time.Second)
	r2 := e.refresh(l.str("refresh_token")) // another tab, within grace
	if r2.status != 200 {
		t.Fatalf("within grace: %d", r2.status)
	}
	e.clock.Advance(6 * time.Second) // 11s after the rotation: past the 10s grace
	r := e.refresh(l.str("refresh_token"))
	if r.status != 401 || r.str("error") != "invalid_grant" {
		t.Fatalf("reuse after grace: %d %s", r.status, r.raw)
	}
	revs := e.revocations(t)
	if len(revs) != 1 || revs[0].Kind != events.KindSession || revs[0].ID != sid || revs[0].Reason != "refresh_reuse" {
		t.Fatalf("revocations %+v", revs)
	}
	// The session's last access token is matched by the revocation.
	last := claimsOf(t, r2.str("access_token"))
	if !revs[0].Matches(last["jti"].(string), last["sid"].(string), "bob", time.Now()) {
		t.Error("the revocation does not match the session's last access token")
	}
	if r := e.refresh(r2.str("refresh_token")); r.status != 401 {
		t.Errorf("the current token still works after theft: %d", r.status)
	}
	if !strings.Contains(e.logs.String(), "event=refresh_reuse") {
		t.Error("no audit line for the reuse")
	}
	// login, two good refreshes, the reuse (a failed refresh that revoked the session), and the
	// refused current token.
	ev := e.is.Stats().Events
	if ev["login"] != 1 || ev["refresh"] != 2 || ev["refresh_reuse"] != 1 || ev["refresh_failed"] != 2 || ev["session_revoked"] != 1 {
		t.Errorf("stats %v", ev)
	}
}

// testLogoutAllThenLogin: logout-all, then a login right after (same second): the new token's iat
// is at or after the revocation's not_before, and every old token's iat is before it. The clock
// is real here: the test is about real timing.
func testLogoutAllThenLogin(t *testing.T, mk envMaker) {
	e := mk(t, func(c *issuer.Config) { c.Clock = time.Now })
	var old []string
	for range 3 {
		l := e.login("bob")
		old = append(old, l.str("access_token"))
		r := e.refresh(l.str("refresh_token"))
		old = append(old, r.str("access_token"))
	}
	if r := e.do("POST", "/v1/logout-all", nil, bearerHdr(old[len(old)-1])...); r.status != 204 {
		t.Fatalf("logout-all: %d %s", r.status, r.raw)
	}
	fresh := e.login("bob")
	revs := e.revocations(t)
	if len(revs) != 1 || revs[0].Kind != events.KindSubject {
		t.Fatalf("revocations %+v", revs)
	}
	nb := revs[0].NotBefore
	newIat := iatOf(t, fresh.str("access_token"))
	if newIat.Before(nb) || revs[0].Matches("j", "s", "bob", newIat) {
		t.Errorf("new token iat %v before not_before %v", newIat, nb)
	}
	if newIat.Sub(nb) > time.Second {
		t.Logf("note: the login came %v after not_before", newIat.Sub(nb))
	}
	for i, tok := range old {
		if iat := iatOf(t, tok); !iat.Before(nb) || !revs[0].Matches("j", "s", "bob", iat) {
			t.Errorf("old token %d: iat %v not before not_before %v", i, iat, nb)
		}
	}
	// The new session works.
	if r := e.do("GET", "/v1/sessions", nil, bearerHdr(fresh.str("access_token"))...); r.status != 200 {
		t.Errorf("new session: %d", r.status)
	}
}

// testSilentRefresh: an expired access cookie and a valid refresh cookie are rotated transparently
// with the claims in the context; a logged-out session is never revived.
func testSilentRefresh(t *testing.T, mk envMaker) {
	e := mk(t, func(c *issuer.Config) { c.RefreshCookiePath = "/" })
	var seen *subscriber.Claims
	app := httptest.NewServer(e.is.SilentRefresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = subscriber.ClaimsFrom(r.Context())
		w.WriteHeader(http.StatusOK)
	})))
	defer app.Close()
	c := jarClient(t)
	login := e.doClient(c, "POST", "/v1/login", map[string]string{"username": "alice", "password": "alice-pw"})
	get := func() *http.Response {
		// The app runs on another port of the same host: copy the issuer's cookies over.
		req, _ := http.NewRequest("GET", app.URL+"/page", nil)
		for _, ck := range c.Jar.Cookies(mustURL(e.srv.URL + "/")) {
			req.AddCookie(ck)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if get(); seen == nil || seen.Subject != "alice" || seen.SessionID != login.str("session_id") {
		t.Fatalf("valid cookie: claims %+v", seen)
	}
	e.clock.Advance(6 * time.Minute) // the access token expired (the test sends the cookie anyway)
	seen = nil
	res := get()
	if seen == nil || seen.Subject != "alice" || len(res.Cookies()) != 2 {
		t.Fatalf("expired access: claims %+v, %d cookies", seen, len(res.Cookies()))
	}
	// Store the rotated cookies as the browser would, then log out: no revival.
	c.Jar.SetCookies(mustURL(e.srv.URL+"/"), res.Cookies())
	if r := e.doClient(c, "POST", "/v1/logout", nil); r.status != 204 {
		t.Fatalf("logout %d", r.status)
	}
	// Put the old refresh cookie back (a stale tab) with an expired access cookie.
	c.Jar.SetCookies(mustURL(e.srv.URL+"/"), res.Cookies())
	e.clock.Advance(6 * time.Minute)
	seen = nil
	res = get()
	if seen != nil {
		t.Fatalf("a logged-out session was revived: %+v", seen)
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge >= 0 {
			t.Errorf("cookie %s not cleared", ck.Name)
		}
	}
}

// TestCookieOnly: with "cookie_only": true, login and refresh answer without the tokens in the
// body (a browser page's JavaScript never sees them); the HttpOnly cookies carry them.
func TestCookieOnly(t *testing.T) {
	e := newEnv(t)
	l := e.do("POST", "/v1/login", map[string]any{"username": "bob", "password": "bob-pw", "cookie_only": true})
	if l.status != 200 || l.str("session_id") == "" || strings.Contains(l.raw, "access_token") || strings.Contains(l.raw, "refresh_token") {
		t.Fatalf("login: %d %s", l.status, l.raw)
	}
	var rt string
	for _, c := range (&http.Response{Header: l.header}).Cookies() {
		if !c.HttpOnly {
			t.Errorf("cookie %s is not HttpOnly", c.Name)
		}
		if c.Name == "revocast_rt" {
			rt = c.Value
		}
	}
	if rt == "" {
		t.Fatalf("no refresh cookie: %v", l.header["Set-Cookie"])
	}
	r := e.do("POST", "/v1/refresh", map[string]any{"refresh_token": rt, "cookie_only": true})
	if r.status != 200 || strings.Contains(r.raw, "_token\"") || len(r.header["Set-Cookie"]) != 2 {
		t.Fatalf("refresh: %d %s %v", r.status, r.raw, r.header["Set-Cookie"])
	}
}

// hookRevoker calls hook before each revocation.
type hookRevoker struct {
	issuer.Revoker
	mu   sync.Mutex
	hook func(events.Revocation)
}

func (h *hookRevoker) Revoke(ctx context.Context, r events.Revocation) (uint64, error) {
	h.mu.Lock()
	hook := h.hook
	h.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	return h.Revoker.Revoke(ctx, r)
}

// TestLogoutAllRacingRefresh: a refresh that runs while logout-all revokes cannot mint a token that
// outlives it (the sessions are deleted before the subject revocation is made).
func TestLogoutAllRacingRefresh(t *testing.T) {
	hr := &hookRevoker{Revoker: &memRevoker{}}
	e := newEnv(t, func(c *issuer.Config) { c.Revoker = hr })
	one, two := e.login("bob"), e.login("bob")
	var raced *resp
	hr.mu.Lock()
	hr.hook = func(r events.Revocation) {
		if r.Kind == events.KindSubject {
			raced = e.refresh(two.str("refresh_token"))
		}
	}
	hr.mu.Unlock()
	if r := e.do("POST", "/v1/logout-all", nil, bearerHdr(one.str("access_token"))...); r.status != 204 {
		t.Fatalf("logout-all: %d %s", r.status, r.raw)
	}
	if raced == nil || raced.status != 401 {
		t.Fatalf("a refresh during logout-all's revocation: %v, want 401", raced)
	}
}

// TestLogoutAllRevokerDownAfterDelete: when the revocation fails after the sessions were deleted,
// the answer is 503 and the revocation was retried.
func TestLogoutAllRevokerDownAfterDelete(t *testing.T) {
	var calls atomic.Int32
	mem := &memRevoker{}
	hr := &hookRevoker{Revoker: mem}
	e := newEnv(t, func(c *issuer.Config) { c.Revoker = hr })
	l := e.login("bob")
	hr.mu.Lock()
	hr.hook = func(events.Revocation) { calls.Add(1) }
	hr.mu.Unlock()
	mem.setFail(errors.New("down"))
	if r := e.do("POST", "/v1/logout-all", nil, bearerHdr(l.str("access_token"))...); r.status != 503 {
		t.Fatalf("logout-all with the revoker down: %d", r.status)
	}
	if calls := calls.Load(); calls != 3 {
		t.Fatalf("%d attempts, want 3", calls)
	}
}
