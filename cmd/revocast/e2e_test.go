package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revocast/revocast/internal/testenv"
)

// background runs a command line in-process until the test ends.
func background(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, &syncWriter{w: &out}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("%s exited %d", args[0], code)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not shut down", args[0])
		}
	})
}

func writeUsers(t *testing.T, dir string) string {
	t.Helper()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"hash-password", "--argon2-memory", "64", "--argon2-time", "1"},
		strings.NewReader("revocast"), &out, io.Discard); code != 0 {
		t.Fatal("hash-password failed")
	}
	hash := strings.TrimSpace(out.String())
	users := fmt.Sprintf(`{"users":[{"username":"alice","password_hash":%q,"roles":["admin"],"name":"Alice","email":"alice@example.com"},`+
		`{"username":"bob","password_hash":%q,"roles":[],"name":"Bob","email":"bob@example.com"}]}`, hash, hash)
	path := filepath.Join(dir, "users.json")
	if err := os.WriteFile(path, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type client struct {
	t *testing.T
}

func (c client) do(method, url, bearer, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// TestIssuerAndDemoServiceEndToEnd runs the README walk-through against the real commands: login at
// the issuer, whoami at the demo service, logout, whoami rejected.
func TestIssuerAndDemoServiceEndToEnd(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	dir := t.TempDir()
	users := writeUsers(t, dir)
	issuerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	demoAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	background(t, "issuer", "--http", issuerAddr, "--redis", r.URL(), "--nats", n.URL(), "--users", users,
		"--keys", filepath.Join(dir, "keys"), "--insecure-cookies", "--refresh-grace", "1ns")
	waitHTTP(t, "http://"+issuerAddr+"/readyz")
	background(t, "demo-service", "--http", demoAddr, "--redis", r.URL(), "--nats", n.URL(),
		"--jwks", "http://"+issuerAddr+"/.well-known/jwks.json")
	waitHTTP(t, "http://"+demoAddr+"/readyz")

	c := client{t}
	code, login := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
	if code != 200 {
		t.Fatalf("login: %d %v", code, login)
	}
	access, _ := login["access_token"].(string)
	code, who := c.do("GET", "http://"+demoAddr+"/whoami", access, "")
	if code != 200 || who["sub"] != "alice" || who["sid"] != login["session_id"] {
		t.Fatalf("whoami: %d %v", code, who)
	}
	if code, body := c.do("POST", "http://"+issuerAddr+"/v1/logout", access, ""); code != 204 {
		t.Fatalf("logout: %d %v", code, body)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if code, body := c.do("GET", "http://"+demoAddr+"/whoami", access, ""); code != 401 {
			return fmt.Errorf("whoami after logout: %d %v", code, body)
		}
		return nil
	})

	// logout-all, then an immediate login: the new token works, the old ones do not.
	_, l1 := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"bob","password":"revocast"}`)
	_, l2 := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"bob","password":"revocast"}`)
	old1, old2 := l1["access_token"].(string), l2["access_token"].(string)
	if code, _ := c.do("POST", "http://"+issuerAddr+"/v1/logout-all", old1, ""); code != 204 {
		t.Fatalf("logout-all: %d", code)
	}
	_, l3 := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"bob","password":"revocast"}`)
	fresh := l3["access_token"].(string)
	testenv.WaitFor(t, 5*time.Second, func() error {
		for _, tok := range []string{old1, old2} {
			if code, _ := c.do("GET", "http://"+demoAddr+"/whoami", tok, ""); code != 401 {
				return fmt.Errorf("old token still accepted: %d", code)
			}
		}
		return nil
	})
	if code, who := c.do("GET", "http://"+demoAddr+"/whoami", fresh, ""); code != 200 {
		t.Fatalf("login right after logout-all: %d %v", code, who)
	}

	// Theft: a rotated-out refresh token presented again revokes the session; the last access token
	// of that session is then rejected by the subscriber in the demo service.
	_, l4 := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
	stolen := l4["refresh_token"].(string)
	code, rot := c.do("POST", "http://"+issuerAddr+"/v1/refresh", "", `{"refresh_token":"`+stolen+`"}`)
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, rot)
	}
	last := rot["access_token"].(string)
	if code, _ := c.do("GET", "http://"+demoAddr+"/whoami", last, ""); code != 200 {
		t.Fatalf("fresh access token rejected before the theft: %d", code)
	}
	if code, body := c.do("POST", "http://"+issuerAddr+"/v1/refresh", "", `{"refresh_token":"`+stolen+`"}`); code != 401 {
		t.Fatalf("reuse of a rotated-out refresh token: %d %v, want 401", code, body)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if code, body := c.do("GET", "http://"+demoAddr+"/whoami", last, ""); code != 401 {
			return fmt.Errorf("the stolen session's last access token is still accepted: %d %v", code, body)
		}
		return nil
	})
}
