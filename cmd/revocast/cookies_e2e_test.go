package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revocast/revocast/internal/testenv"
)

// TestCookiesAndCSRFOnRunningIssuer checks, against `revocast issuer` (secure cookies, the
// default), the cookie attributes of a login and that a cross-site POST to /v1/refresh and
// /v1/logout is refused with 403.
func TestCookiesAndCSRFOnRunningIssuer(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	background(t, "issuer", "--http", addr, "--redis", r.URL(), "--nats", n.URL(), "--users", writeUsers(t, dir),
		"--keys", filepath.Join(dir, "keys"))
	waitHTTP(t, "http://"+addr+"/readyz")
	base := "http://" + addr

	resp, err := http.Post(base+"/v1/login", "application/json", strings.NewReader(`{"username":"alice","password":"revocast"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	at, rt := cookies["__Host-revocast_at"], cookies["__Secure-revocast_rt"]
	if at == nil || !at.HttpOnly || !at.Secure || at.Path != "/" || at.Domain != "" || at.SameSite != http.SameSiteLaxMode {
		t.Fatalf("access cookie %+v", at)
	}
	if rt == nil || !rt.HttpOnly || !rt.Secure || rt.Path != "/v1/" || rt.SameSite != http.SameSiteLaxMode {
		t.Fatalf("refresh cookie %+v", rt)
	}
	for _, path := range []string{"/v1/refresh", "/v1/logout"} {
		req, _ := http.NewRequest("POST", base+path, nil)
		req.AddCookie(at)
		req.AddCookie(rt)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	// The same-site refresh with the cookie still works.
	req, _ := http.NewRequest("POST", base+"/v1/refresh", nil)
	req.AddCookie(rt)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("same-origin refresh with the cookie: %d", resp.StatusCode)
	}
}
