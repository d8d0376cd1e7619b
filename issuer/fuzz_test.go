package issuer_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/revocast/revocast/issuer"
)

// fuzzEnv is an issuer without rate limits (so every body reaches the handler's decoder).
func fuzzEnv(t testing.TB) *env {
	return newEnv(t, func(c *issuer.Config) {
		c.LoginRate.PerUser = issuer.Rate{Burst: -1}
		c.LoginRate.PerIP = issuer.Rate{Burst: -1}
	})
}

// serveFuzz sends body to path in-process and checks the answer: one of the allowed statuses, never
// 500, and a JSON error body for every error.
func serveFuzz(t *testing.T, e *env, path, body string, allowed []int, hdr ...string) {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.is.ServeHTTP(rec, req)
	ok := false
	for _, s := range allowed {
		ok = ok || rec.Code == s
	}
	if !ok {
		t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
	}
	if rec.Code >= 400 {
		var eb struct{ Error, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" {
			t.Fatalf("error body %q", rec.Body)
		}
	}
}

func FuzzLoginBody(f *testing.F) {
	for _, s := range []string{`{"username":"alice","password":"alice-pw"}`, `{"username":"alice","password":"x"}`,
		`{}`, `{"username":"a\u0000","password":"\ud800"}`, `[]`, `null`, ``, `{"username":["x"]}`} {
		f.Add(s)
	}
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		serveFuzz(t, e, "/v1/login", body, []int{200, 400, 401, 413})
	})
}

func FuzzRefreshBody(f *testing.F) {
	e := fuzzEnv(f)
	l := e.login("bob")
	for _, s := range []string{`{"refresh_token":"` + l.str("refresh_token") + `"}`, `{"refresh_token":""}`, `{}`, ``,
		`{"refresh_token":"` + l.str("session_id") + `.x"}`, `{"refresh_token":7}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		serveFuzz(t, e, "/v1/refresh", body, []int{200, 400, 401, 413})
	})
}

func FuzzRevocationBody(f *testing.F) {
	e := fuzzEnv(f)
	l := e.login("alice")
	for _, s := range []string{`{"kind":"token","id":"j1"}`, `{"kind":"subject","id":"bob","not_before":"2030-01-01T00:00:00Z"}`,
		`{"kind":"all"}`, `{"kind":"session","id":"s","not_before":"x"}`, `{"kind":"all","id":"x"}`, `{"kind":"token","id":"a b"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		// 401 once a fuzzed revocation of alice (subject or her session) has ended her session.
		serveFuzz(t, e, "/v1/revocations", body, []int{202, 400, 401, 413}, bearerHdr(l.str("access_token"))...)
	})
}

// FuzzDecodeBody: the body decoder never panics and accepts only one JSON value.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"username":"a","password":"b"}`), true)
	f.Add([]byte(`{} {}`), false)
	f.Fuzz(func(t *testing.T, data []byte, allowEmpty bool) {
		var q map[string]any
		empty, err := issuer.DecodeBody(data, &q, allowEmpty)
		if err == nil && !empty && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
	})
}
