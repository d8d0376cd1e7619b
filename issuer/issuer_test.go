package issuer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/issuer"
)

// TestEndpoints drives every endpoint and error of the HTTP API through one table. Each case gets
// a fresh issuer (in-memory store and revoker, fake clock); TestEndpointsRedis runs the same table
// against real Redis and NATS.
func TestEndpoints(t *testing.T) {
	runEndpointTable(t, func(t *testing.T, opts ...envOption) *env { return newEnv(t, opts...) })
}

type endpointCase struct {
	name   string
	opts   []envOption
	run    func(e *env) *resp
	status int
	code   string // the "error" of the body, for errors
	check  func(t *testing.T, e *env, r *resp)
}

var endpointCases = []endpointCase{
	{name: "login ok", status: 200, run: func(e *env) *resp {
		return e.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "alice-pw"})
	}, check: func(t *testing.T, e *env, r *resp) {
		if r.str("access_token") == "" || r.str("refresh_token") == "" || r.str("token_type") != "Bearer" ||
			r.body["expires_in"] != float64(300) || r.str("session_id") == "" {
			t.Errorf("body %s", r.raw)
		}
		cookies := r.header.Values("Set-Cookie")
		if len(cookies) != 2 || !strings.Contains(cookies[0], "revocast_at=") || !strings.Contains(cookies[1], "revocast_rt=") ||
			!strings.Contains(cookies[1], "Path=/v1/") || !strings.Contains(cookies[0], "HttpOnly") || !strings.Contains(cookies[0], "SameSite=Lax") {
			t.Errorf("cookies %q", cookies)
		}
	}},
	{name: "login bcrypt user", status: 200, run: func(e *env) *resp {
		return e.do("POST", "/v1/login", map[string]string{"username": "carol", "password": "carol-pw"})
	}},
	{name: "login wrong password", status: 401, code: "invalid_credentials", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "nope"})
	}},
	{name: "login unknown user same body", status: 401, code: "invalid_credentials", run: func(e *env) *resp {
		wrong := e.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "nope"})
		r := e.do("POST", "/v1/login", map[string]string{"username": "mallory", "password": "nope"})
		if r.raw != wrong.raw {
			e.t.Errorf("unknown user body %q != wrong password body %q", r.raw, wrong.raw)
		}
		return r
	}},
	{name: "login malformed JSON", status: 400, code: "invalid_request", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", `{"username":`)
	}},
	{name: "login trailing data", status: 400, code: "invalid_request", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", `{"username":"alice","password":"alice-pw"} {}`)
	}},
	{name: "login wrong type", status: 400, code: "invalid_request", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", `{"username":1,"password":"x"}`)
	}},
	{name: "login missing password", status: 400, code: "invalid_request", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", map[string]string{"username": "alice"})
	}},
	{name: "login body over 64 KiB", status: 413, code: "request_too_large", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", `{"username":"alice","password":"`+strings.Repeat("x", 70<<10)+`"}`)
	}},
	{name: "login GET is 405", status: 405, code: "method_not_allowed", run: func(e *env) *resp {
		return e.do("GET", "/v1/login", nil)
	}, check: func(t *testing.T, e *env, r *resp) {
		if r.header.Get("Allow") == "" {
			t.Error("no Allow header")
		}
	}},
	{name: "unknown path 404", status: 404, code: "not_found", run: func(e *env) *resp {
		return e.do("GET", "/v1/nothing", nil)
	}},
	{name: "login rate limited per user", status: 429, code: "rate_limited",
		opts: []envOption{func(c *issuer.Config) { c.LoginRate.PerUser = issuer.Rate{Burst: 2, Interval: time.Minute} }},
		run: func(e *env) *resp {
			for range 2 {
				e.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "nope"})
			}
			return e.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "bob-pw"})
		}, check: func(t *testing.T, e *env, r *resp) {
			if r.header.Get("Retry-After") != "60" {
				t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
			}
			e.clock.Advance(time.Minute)
			if r := e.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "bob-pw"}); r.status != 200 {
				t.Errorf("after the interval: %d", r.status)
			}
		}},
	{name: "login rate limited per IP", status: 429, code: "rate_limited",
		opts: []envOption{func(c *issuer.Config) { c.LoginRate.PerIP = issuer.Rate{Burst: 3, Interval: time.Second} }},
		run: func(e *env) *resp {
			for _, u := range []string{"alice", "bob", "carol"} {
				e.do("POST", "/v1/login", map[string]string{"username": u, "password": "nope"})
			}
			return e.do("POST", "/v1/login", map[string]string{"username": "dave", "password": "x"})
		}, check: func(t *testing.T, e *env, r *resp) {
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
			}
		}},
	{name: "login store down 503", status: 503, code: "unavailable", run: func(e *env) *resp {
		e.failStore(errors.New("store down"))
		return e.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "alice-pw"})
	}, check: func(t *testing.T, e *env, r *resp) {
		if r.header.Get("Retry-After") == "" || r.str("access_token") != "" {
			t.Errorf("503 without Retry-After or with a token: %v %s", r.header, r.raw)
		}
	}},
	{name: "login cross-site 403", status: 403, code: "forbidden", run: func(e *env) *resp {
		return e.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "alice-pw"}, "Sec-Fetch-Site", "cross-site")
	}},
	{name: "refresh body", status: 200, run: func(e *env) *resp {
		return e.refresh(e.login("bob").str("refresh_token"))
	}, check: func(t *testing.T, e *env, r *resp) {
		if r.str("refresh_token") == "" || r.str("access_token") == "" {
			t.Errorf("body %s", r.raw)
		}
	}},
	{name: "refresh cookie", status: 200, run: func(e *env) *resp {
		c := jarClient(e.t)
		if r := e.doClient(c, "POST", "/v1/login", map[string]string{"username": "bob", "password": "bob-pw"}); r.status != 200 {
			e.t.Fatal(r.raw)
		}
		return e.doClient(c, "POST", "/v1/refresh", nil)
	}},
	{name: "refresh rotates", status: 401, code: "invalid_grant", run: func(e *env) *resp {
		l := e.login("bob")
		r1 := e.refresh(l.str("refresh_token"))
		if r1.status != 200 || r1.str("refresh_token") == l.str("refresh_token") {
			e.t.Fatalf("first refresh %d", r1.status)
		}
		e.clock.Advance(11 * time.Second)
		return e.refresh(l.str("refresh_token")) // reuse after grace
	}},
	{name: "refresh garbage", status: 401, code: "invalid_grant", run: func(e *env) *resp {
		return e.refresh("garbage")
	}},
	{name: "refresh unknown token of a live session", status: 401, code: "invalid_grant", run: func(e *env) *resp {
		l := e.login("bob")
		r := e.refresh(l.str("session_id") + "." + strings.Repeat("A", 43))
		if e.refresh(l.str("refresh_token")).status != 200 {
			e.t.Error("an unknown token killed the session")
		}
		return r
	}},
	{name: "refresh nothing", status: 401, code: "invalid_grant", run: func(e *env) *resp {
		return e.do("POST", "/v1/refresh", nil)
	}},
	{name: "refresh malformed JSON", status: 400, code: "invalid_request", run: func(e *env) *resp {
		return e.do("POST", "/v1/refresh", `{"refresh_token":[`)
	}},
	{name: "refresh body over 64 KiB", status: 413, code: "request_too_large", run: func(e *env) *resp {
		return e.do("POST", "/v1/refresh", `{"refresh_token":"`+strings.Repeat("x", 65<<10)+`"}`)
	}},
	{name: "refresh store down 503", status: 503, code: "unavailable", run: func(e *env) *resp {
		l := e.login("bob")
		e.failStore(errors.New("store down"))
		return e.refresh(l.str("refresh_token"))
	}},
	{name: "refresh cross-site 403", status: 403, code: "forbidden", run: func(e *env) *resp {
		return e.do("POST", "/v1/refresh", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	}},
	{name: "logout bearer", status: 204, run: func(e *env) *resp {
		l := e.login("bob")
		r := e.do("POST", "/v1/logout", nil, bearerHdr(l.str("access_token"))...)
		if e.refresh(l.str("refresh_token")).status != 401 {
			e.t.Error("refresh works after logout")
		}
		return r
	}, check: func(t *testing.T, e *env, r *resp) {
		revs := e.revocations(t)
		if len(revs) != 1 || revs[0].Kind != events.KindSession || revs[0].Reason != "logout" {
			t.Errorf("revocations %+v", revs)
		}
		if c := r.header.Values("Set-Cookie"); len(c) != 2 || !strings.Contains(c[0], "Max-Age=0") {
			t.Errorf("cookies not cleared: %q", c)
		}
	}},
	{name: "logout cookies", status: 204, run: func(e *env) *resp {
		c := jarClient(e.t)
		e.doClient(c, "POST", "/v1/login", map[string]string{"username": "bob", "password": "bob-pw"})
		e.clock.Advance(10 * time.Minute) // the access cookie has expired: the refresh cookie is used
		return e.doClient(c, "POST", "/v1/logout", nil)
	}},
	{name: "logout without credentials", status: 401, code: "invalid_token", run: func(e *env) *resp {
		return e.do("POST", "/v1/logout", nil)
	}},
	{name: "logout bad bearer", status: 401, code: "invalid_token", run: func(e *env) *resp {
		return e.do("POST", "/v1/logout", nil, "Authorization", "Bearer x.y.z")
	}},
	{name: "logout revoker down 503 keeps the session", status: 503, code: "unavailable", run: func(e *env) *resp {
		l := e.login("bob")
		e.failRevoker(errors.New("revoker down"))
		r := e.do("POST", "/v1/logout", nil, bearerHdr(l.str("access_token"))...)
		e.failRevoker(nil)
		if e.refresh(l.str("refresh_token")).status != 200 {
			e.t.Error("session gone after a failed logout")
		}
		return r
	}},
	{name: "logout cross-site 403", status: 403, code: "forbidden", run: func(e *env) *resp {
		l := e.login("bob")
		return e.do("POST", "/v1/logout", nil, append(bearerHdr(l.str("access_token")), "Sec-Fetch-Site", "cross-site")...)
	}},
	{name: "logout-all", status: 204, run: func(e *env) *resp {
		a, b := e.login("bob"), e.login("bob")
		r := e.do("POST", "/v1/logout-all", nil, bearerHdr(a.str("access_token"))...)
		for _, l := range []*resp{a, b} {
			if e.refresh(l.str("refresh_token")).status != 401 {
				e.t.Error("a session survived logout-all")
			}
		}
		return r
	}, check: func(t *testing.T, e *env, r *resp) {
		revs := e.revocations(t)
		if len(revs) != 1 || revs[0].Kind != events.KindSubject || revs[0].ID != "bob" || revs[0].NotBefore.IsZero() {
			t.Errorf("revocations %+v", revs)
		}
	}},
	{name: "logout-all without token", status: 401, code: "invalid_token", run: func(e *env) *resp {
		return e.do("POST", "/v1/logout-all", nil)
	}},
	{name: "logout-all revoker down", status: 503, code: "unavailable", run: func(e *env) *resp {
		l := e.login("bob")
		e.failRevoker(errors.New("down"))
		return e.do("POST", "/v1/logout-all", nil, bearerHdr(l.str("access_token"))...)
	}},
	{name: "sessions list", status: 200, run: func(e *env) *resp {
		e.login("bob")
		l := e.login("bob")
		e.login("alice")
		return e.do("GET", "/v1/sessions", nil, append(bearerHdr(l.str("access_token")), "User-Agent", "ua-test")...)
	}, check: func(t *testing.T, e *env, r *resp) {
		list, _ := r.body["sessions"].([]any)
		if len(list) != 2 {
			t.Fatalf("sessions %s", r.raw)
		}
		current := 0
		for _, s := range list {
			m := s.(map[string]any)
			if m["current"] == true {
				current++
			}
			for _, k := range []string{"id", "created", "last_used", "user_agent", "ip"} {
				if _, ok := m[k]; !ok {
					t.Errorf("no %s in %v", k, m)
				}
			}
		}
		if current != 1 {
			t.Errorf("%d current sessions", current)
		}
	}},
	{name: "sessions without token", status: 401, code: "invalid_token", run: func(e *env) *resp {
		return e.do("GET", "/v1/sessions", nil)
	}},
	{name: "sessions with an expired token", status: 401, code: "invalid_token", run: func(e *env) *resp {
		l := e.login("bob")
		e.clock.Advance(6 * time.Minute)
		return e.do("GET", "/v1/sessions", nil, bearerHdr(l.str("access_token"))...)
	}},
	{name: "sessions with a logged-out token", status: 401, code: "invalid_token", run: func(e *env) *resp {
		l := e.login("bob")
		e.do("POST", "/v1/logout", nil, bearerHdr(l.str("access_token"))...)
		return e.do("GET", "/v1/sessions", nil, bearerHdr(l.str("access_token"))...)
	}},
	{name: "sessions POST is 405", status: 405, code: "method_not_allowed", run: func(e *env) *resp {
		return e.do("POST", "/v1/sessions", nil)
	}},
	{name: "sessions store down", status: 503, code: "unavailable", run: func(e *env) *resp {
		l := e.login("bob")
		e.failStore(errors.New("down"))
		return e.do("GET", "/v1/sessions", nil, bearerHdr(l.str("access_token"))...)
	}},
	{name: "delete own other session", status: 204, run: func(e *env) *resp {
		old := e.login("bob")
		l := e.login("bob")
		r := e.do("DELETE", "/v1/sessions/"+old.str("session_id"), nil, bearerHdr(l.str("access_token"))...)
		if e.refresh(old.str("refresh_token")).status != 401 || e.refresh(l.str("refresh_token")).status != 200 {
			e.t.Error("wrong session deleted")
		}
		return r
	}, check: func(t *testing.T, e *env, r *resp) {
		if revs := e.revocations(t); len(revs) != 1 || revs[0].Kind != events.KindSession {
			t.Errorf("revocations %+v", revs)
		}
	}},
	{name: "delete another user's session 404", status: 404, code: "not_found", run: func(e *env) *resp {
		a := e.login("alice")
		l := e.login("bob")
		r := e.do("DELETE", "/v1/sessions/"+a.str("session_id"), nil, bearerHdr(l.str("access_token"))...)
		if e.refresh(a.str("refresh_token")).status != 200 {
			e.t.Error("alice's session was deleted by bob")
		}
		return r
	}},
	{name: "delete unknown session 404", status: 404, code: "not_found", run: func(e *env) *resp {
		l := e.login("bob")
		return e.do("DELETE", "/v1/sessions/nope", nil, bearerHdr(l.str("access_token"))...)
	}},
	{name: "delete session revoker down", status: 503, code: "unavailable", run: func(e *env) *resp {
		old := e.login("bob")
		l := e.login("bob")
		e.failRevoker(errors.New("down"))
		return e.do("DELETE", "/v1/sessions/"+old.str("session_id"), nil, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation", status: 202, run: func(e *env) *resp {
		l := e.login("alice")
		b := e.login("bob")
		r := e.do("POST", "/v1/revocations", map[string]string{"kind": "subject", "id": "bob", "reason": "fired"}, bearerHdr(l.str("access_token"))...)
		if e.refresh(b.str("refresh_token")).status != 401 {
			e.t.Error("bob's session survived the subject revocation")
		}
		return r
	}, check: func(t *testing.T, e *env, r *resp) {
		if seq, _ := r.body["seq"].(float64); seq < 1 {
			t.Errorf("body %s", r.raw)
		}
		revs := e.revocations(t)
		if len(revs) != 1 || revs[0].Kind != events.KindSubject || revs[0].ID != "bob" || revs[0].Reason != "fired" {
			t.Errorf("revocations %+v", revs)
		}
	}},
	{name: "admin revocation token kind", status: 202, run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "token", "id": "some-jti"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation all with not_before", status: 202, run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "all", "not_before": "2030-01-01T00:00:00Z"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation without role 403", status: 403, code: "forbidden", run: func(e *env) *resp {
		l := e.login("bob")
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "subject", "id": "alice"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation without token 401", status: 401, code: "invalid_token", run: func(e *env) *resp {
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "subject", "id": "alice"})
	}},
	{name: "admin revocation bad kind 400", status: 400, code: "invalid_request", run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "everything", "id": "x"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation all with id 400", status: 400, code: "invalid_request", run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "all", "id": "x"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation bad not_before 400", status: 400, code: "invalid_request", run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "subject", "id": "bob", "not_before": "yesterday"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation malformed 400", status: 400, code: "invalid_request", run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", `{`, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation over 64 KiB 413", status: 413, code: "request_too_large", run: func(e *env) *resp {
		l := e.login("alice")
		return e.do("POST", "/v1/revocations", `{"kind":"token","id":"`+strings.Repeat("x", 65<<10)+`"}`, bearerHdr(l.str("access_token"))...)
	}},
	{name: "admin revocation revoker down 503", status: 503, code: "unavailable", run: func(e *env) *resp {
		l := e.login("alice")
		e.failRevoker(errors.New("down"))
		return e.do("POST", "/v1/revocations", map[string]string{"kind": "token", "id": "j"}, bearerHdr(l.str("access_token"))...)
	}},
	{name: "jwks", status: 200, run: func(e *env) *resp {
		return e.do("GET", "/.well-known/jwks.json", nil)
	}, check: func(t *testing.T, e *env, r *resp) {
		keys, _ := r.body["keys"].([]any)
		if len(keys) != 1 {
			t.Fatalf("jwks %s", r.raw)
		}
		k := keys[0].(map[string]any)
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["x"] == "" || k["kid"] == "" {
			t.Errorf("jwk %v", k)
		}
	}},
	{name: "healthz", status: 200, run: func(e *env) *resp { return e.do("GET", "/healthz", nil) }},
	{name: "readyz", status: 200, run: func(e *env) *resp { return e.do("GET", "/readyz", nil) }},
	{name: "readyz store down", status: 503, code: "not_ready", run: func(e *env) *resp {
		e.failStore(errors.New("down"))
		return e.do("GET", "/readyz", nil)
	}},
	{name: "readyz dependency down", status: 503, code: "not_ready",
		opts: []envOption{func(c *issuer.Config) {
			c.Ready = []issuer.Pinger{issuer.PingFunc(func(ctx context.Context) error { return errors.New("nats down") })}
		}},
		run: func(e *env) *resp { return e.do("GET", "/readyz", nil) }},
	{name: "readyz after Close", status: 503, code: "not_ready", run: func(e *env) *resp {
		e.is.Close()
		return e.do("GET", "/readyz", nil)
	}},
}

func runEndpointTable(t *testing.T, mk func(t *testing.T, opts ...envOption) *env) {
	for _, tc := range endpointCases {
		t.Run(tc.name, func(t *testing.T) {
			e := mk(t, tc.opts...)
			r := tc.run(e)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.code != "" {
				if r.str("error") != tc.code || r.str("message") == "" {
					t.Errorf("body %s, want error %q and a message", r.raw, tc.code)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			if tc.check != nil {
				tc.check(t, e, r)
			}
		})
	}
}
