package subscriber

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSilentRefresh(t *testing.T) {
	k := newTestKeys(t, "k1")
	v := testVerifier(t, k)
	expired := validClaims()
	expired["exp"] = json.Number(fmt.Sprint(testNow.Add(-time.Hour).Unix()))
	expiredTok := signRaw(k.priv, header("k1"), expired)
	fresh := validClaims()
	fresh["jti"] = "jti-new"
	freshTok := signRaw(k.priv, header("k1"), fresh)

	calls := 0
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.URL.Path != "/v1/refresh" || body.RefreshToken != "rt-good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": freshTok, "refresh_token": "rt-next",
			"token_type": "Bearer", "expires_in": 300, "session_id": "sid-1"})
	}))
	defer issuer.Close()

	a := NewAuthenticator(v, &fakeChecker{revoked: map[string]bool{}}, WithSilentRefresh(issuer.URL))
	var seen *Claims
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = ClaimsFrom(r.Context()) }))
	call := func(rt string) *httptest.ResponseRecorder {
		seen = nil
		r := httptest.NewRequest("GET", "/page", nil)
		r.AddCookie(&http.Cookie{Name: AccessCookie, Value: expiredTok})
		if rt != "" {
			r.AddCookie(&http.Cookie{Name: RefreshCookie, Value: rt})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := call("rt-good")
	if w.Code != 200 || seen == nil || seen.ID != "jti-new" {
		t.Fatalf("silent refresh: %d %+v", w.Code, seen)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		cookies[c.Name] = c
	}
	if at := cookies[AccessCookie]; at == nil || at.Value != freshTok || !at.HttpOnly || !at.Secure || at.Path != "/" {
		t.Fatalf("new access cookie %+v", at)
	}
	if rt := cookies[RefreshCookie]; rt == nil || rt.Value != "rt-next" || !rt.HttpOnly || !rt.Secure {
		t.Fatalf("new refresh cookie %+v", rt)
	}
	if w := call("rt-revoked"); w.Code != 401 || seen != nil {
		t.Fatalf("a refresh the issuer refuses must stay 401: %d", w.Code)
	}
	before := calls
	if w := call(""); w.Code != 401 || calls != before {
		t.Fatalf("without a refresh cookie: %d, issuer called %d times", w.Code, calls-before)
	}
	// A Bearer token (not a browser cookie) is never refreshed.
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Bearer "+expiredTok)
	r.AddCookie(&http.Cookie{Name: RefreshCookie, Value: "rt-good"})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 || calls != before {
		t.Fatalf("bearer with an expired token: %d (issuer calls %d)", w.Code, calls-before)
	}
}

// TestSilentRefreshDroppedAccessCookie: the browser drops the access cookie when it expires (its
// Max-Age is the token's lifetime), so a request may carry only the refresh cookie: it is refreshed
// too, and the issuer's own Set-Cookie headers (with their paths) reach the browser unchanged.
func TestSilentRefreshDroppedAccessCookie(t *testing.T) {
	k := newTestKeys(t, "k1")
	fresh := validClaims()
	fresh["jti"] = "jti-new"
	freshTok := signRaw(k.priv, header("k1"), fresh)
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: AccessCookie, Value: freshTok, Path: "/", MaxAge: 300, HttpOnly: true, Secure: true})
		http.SetCookie(w, &http.Cookie{Name: RefreshCookie, Value: "rt-next", Path: "/v1/", MaxAge: 3600, HttpOnly: true, Secure: true})
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": freshTok, "refresh_token": "rt-next", "expires_in": 300})
	}))
	defer issuer.Close()
	a := NewAuthenticator(testVerifier(t, k), &fakeChecker{revoked: map[string]bool{}}, WithSilentRefresh(issuer.URL))
	var seen *Claims
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = ClaimsFrom(r.Context()) }))
	r := httptest.NewRequest("GET", "/v1/console/whoami", nil)
	r.AddCookie(&http.Cookie{Name: RefreshCookie, Value: "rt-good"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || seen == nil || seen.ID != "jti-new" {
		t.Fatalf("refresh without an access cookie: %d %+v", w.Code, seen)
	}
	var rt *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == RefreshCookie {
			rt = c
		}
	}
	if rt == nil || rt.Path != "/v1/" || rt.MaxAge != 3600 {
		t.Fatalf("the issuer's refresh cookie was not passed through: %+v", rt)
	}
	if st := a.Stats(); st.Checked != 1 {
		t.Fatalf("checked %d, want 1", st.Checked)
	}
}
