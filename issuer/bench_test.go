package issuer_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/revocast/revocast/issuer"
)

// The benchmarks run against real Redis (sessions and revocation log), the real revoker and NATS,
// over real HTTP on loopback. Password hashing is LOWERED to argon2id m=64 KiB, t=1 (testHash): the
// figures measure the issuer, not argon2id (the default, 19 MiB and t=2, costs about 20-30 ms of
// CPU per login by itself). BenchmarkBaseline is a plain JSON handler on the same kind of server, in
// the same run: the cost of HTTP and JSON alone.

func benchEnv(b *testing.B) *env {
	b.Helper()
	return startServers(b).envTB(b, func(c *issuer.Config) {
		c.Clock = time.Now
		c.LoginRate.PerUser = issuer.Rate{Burst: -1}
		c.LoginRate.PerIP = issuer.Rate{Burst: -1}
	})
}

func post(b *testing.B, c *http.Client, url string, body []byte, hdr ...string) map[string]any {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 && res.StatusCode != 204 {
		b.Fatalf("%s: %d %s", url, res.StatusCode, raw)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

// BenchmarkBaseline: a handler that decodes a small JSON body and answers a small JSON body.
func BenchmarkBaseline(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q map[string]string
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, "bad", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"access_token": "x", "refresh_token": "y"})
	}))
	defer srv.Close()
	body := []byte(`{"username":"bob","password":"bob-pw"}`)
	c := srv.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		post(b, c, srv.URL+"/v1/login", body)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkLogin(b *testing.B) {
	e := benchEnv(b)
	c := e.srv.Client()
	body := []byte(`{"username":"bob","password":"bob-pw"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		post(b, c, e.srv.URL+"/v1/login", body)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkRefresh(b *testing.B) {
	e := benchEnv(b)
	c := e.srv.Client()
	tok := post(b, c, e.srv.URL+"/v1/login", []byte(`{"username":"bob","password":"bob-pw"}`))["refresh_token"].(string)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tok = post(b, c, e.srv.URL+"/v1/refresh", []byte(`{"refresh_token":"`+tok+`"}`))["refresh_token"].(string)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkLogout measures logout alone: the logins it needs are made with the timer stopped.
func BenchmarkLogout(b *testing.B) {
	e := benchEnv(b)
	c := e.srv.Client()
	login := []byte(`{"username":"bob","password":"bob-pw"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		at := post(b, c, e.srv.URL+"/v1/login", login)["access_token"].(string)
		b.StartTimer()
		post(b, c, e.srv.URL+"/v1/logout", nil, "Authorization", "Bearer "+at)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkLoginFailure compares a wrong password for a known user with a login for an unknown
// user, both answered 401: the unknown user is compared against a dummy hash with the same
// parameters, so the two cost about the same (no user enumeration by timing). Both use the
// production argon2id parameters here (DefaultHashParams), not the lowered test ones.
func BenchmarkLoginFailure(b *testing.B) {
	dir := b.TempDir()
	h, err := issuer.HashPassword("bob-pw", issuer.DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	users, _ := json.Marshal(map[string]any{"users": []map[string]any{{"username": "bob", "password_hash": h}}})
	path := dir + "/users.json"
	if err := os.WriteFile(path, users, 0o600); err != nil {
		b.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{KeysDir: dir + "/keys", Users: path, Sessions: newMemStore(), Revoker: &memRevoker{},
		LoginRate: issuer.RateLimits{PerUser: issuer.Rate{Burst: -1}, PerIP: issuer.Rate{Burst: -1}}})
	if err != nil {
		b.Fatal(err)
	}
	defer is.Close()
	for _, tc := range []struct{ name, body string }{
		{"wrong-password", `{"username":"bob","password":"nope"}`},
		{"unknown-user", `{"username":"nobody","password":"nope"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				is.ServeHTTP(w, httptest.NewRequest("POST", "/v1/login", strings.NewReader(tc.body)))
				if w.Code != http.StatusUnauthorized {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
