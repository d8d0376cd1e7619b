package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revocast/revocast/internal/testenv"
)

// startDev runs `revocast dev` in-process on free ports with dataDir and returns its URLs and a
// function that stops it (as Ctrl-C does) and waits for it to exit.
func startDev(t *testing.T, dataDir string, natsPort int) (issuerURL, demoURL string, stop func()) {
	t.Helper()
	issuerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	demoAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out syncWriter
	out.w = &strings.Builder{}
	go func() {
		done <- run(ctx, []string{"dev", "--data-dir", dataDir, "--nats-port", fmt.Sprint(natsPort),
			"--http", issuerAddr, "--demo", demoAddr}, strings.NewReader(""), &out, io.Discard)
	}()
	issuerURL, demoURL = "http://"+issuerAddr, "http://"+demoAddr
	waitHTTP(t, demoURL+"/readyz")
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("dev exited %d", code)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("dev did not stop")
		}
	}
	t.Cleanup(stop)
	out.mu.Lock()
	banner := out.w.(*strings.Builder).String()
	out.mu.Unlock()
	if !strings.Contains(banner, issuerURL+"/v1/login") || !strings.Contains(banner, demoURL+"/whoami") {
		t.Fatalf("banner lacks the walk-through:\n%s", banner)
	}
	return issuerURL, demoURL, stop
}

// TestDevPersistsAcrossRestart: a token revoked before a restart is still rejected after it, and a
// session opened before it still refreshes.
func TestDevPersistsAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	natsPort := testenv.FreePort(t)
	issuerURL, demoURL, stop := startDev(t, dir, natsPort)
	c := client{t}

	_, alice := c.do("POST", issuerURL+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
	revoked := alice["access_token"].(string)
	if code, who := c.do("GET", demoURL+"/whoami", revoked, ""); code != 200 || who["sub"] != "alice" {
		t.Fatalf("whoami: %d %v", code, who)
	}
	if code, _ := c.do("POST", issuerURL+"/v1/logout", revoked, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if code, _ := c.do("GET", demoURL+"/whoami", revoked, ""); code != 401 {
			return fmt.Errorf("whoami after logout: %d", code)
		}
		return nil
	})
	// The dev system's demo service answers `revocast status` on the embedded NATS.
	code, out, stderr := runCmd(t, "", "status", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "--expect", "1", "--timeout", "5s")
	if code != 0 || !strings.Contains(out, "demo-service") || !strings.Contains(out, "1 subscribers, fleet head 1, 0 behind or stale") {
		t.Fatalf("status on dev: exit %d %s\n%s", code, stderr, out)
	}
	_, bob := c.do("POST", issuerURL+"/v1/login", "", `{"username":"bob","password":"revocast"}`)

	// revocast revoke --jetstream reaches the dev instance's log and its demo service.
	_, carol := c.do("POST", issuerURL+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
	// Dev signs events and its demo service trusts only its key: an unsigned revocation is dropped,
	// the same one signed with the dev key is applied.
	revoke := func(extra ...string) {
		t.Helper()
		args := append([]string{"revoke", "--jetstream", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
			"--kind", "session", "--id", carol["session_id"].(string)}, extra...)
		if code := run(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
			t.Fatalf("revoke --jetstream exited %d", code)
		}
	}
	readyz := func() map[string]any { _, m := c.do("GET", demoURL+"/readyz", "", ""); return m }
	headBefore, _ := readyz()["head"].(float64)
	revoke()
	testenv.WaitFor(t, 5*time.Second, func() error { // the unsigned one reached the demo and was dropped
		if code, _ := c.do("GET", demoURL+"/whoami", carol["access_token"].(string), ""); code != 200 {
			return fmt.Errorf("an unsigned revocation took effect: %d", code)
		}
		if h, _ := readyz()["head"].(float64); h <= headBefore {
			return fmt.Errorf("head %v: the unsigned revocation has not been seen yet", h)
		}
		return nil
	})
	revoke("--event-key", filepath.Join(dir, "event-keys", "dev.pem"))
	testenv.WaitFor(t, 5*time.Second, func() error {
		if code, _ := c.do("GET", demoURL+"/whoami", carol["access_token"].(string), ""); code != 401 {
			return fmt.Errorf("session revoked with the CLI still accepted: %d", code)
		}
		return nil
	})
	stop()

	issuerURL, demoURL, _ = startDev(t, dir, natsPort)
	if code, body := c.do("GET", demoURL+"/whoami", revoked, ""); code != 401 {
		t.Fatalf("a token revoked before the restart is accepted after it: %d %v", code, body)
	}
	code, refreshed := c.do("POST", issuerURL+"/v1/refresh", "", `{"refresh_token":"`+bob["refresh_token"].(string)+`"}`)
	if code != 200 {
		t.Fatalf("bob's session did not survive the restart: %d %v", code, refreshed)
	}
	if code, who := c.do("GET", demoURL+"/whoami", refreshed["access_token"].(string), ""); code != 200 || who["sub"] != "bob" {
		t.Fatalf("whoami with the refreshed token: %d %v", code, who)
	}
}
