package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/revocast/revocast/internal/testenv"
)

// chromium finds Debian's Chromium (make test installs it with apt-get when it is missing).
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("REVOCAST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("no chromium: the browser tests need Debian's chromium (make test installs it)")
	return ""
}

// browser starts a headless Chromium for the test, flags as this machine's closed network needs.
func browser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab opens a new browser context (its own cookie jar: another device) with one tab.
func tab(t *testing.T, b context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // creates the tab; later calls may have timeouts
		t.Fatal(err)
	}
	return ctx
}

func act(t *testing.T, ctx context.Context, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) to a T.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, expr string) string { return eval[string](t, ctx, expr) }

// waitJS polls a JavaScript condition every 20 ms until it holds or within passes.
func waitJS(t *testing.T, ctx context.Context, within time.Duration, cond string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if eval[bool](t, ctx, cond) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s\npage: %s", within, cond, text(t, ctx, `[document.getElementById("banner").textContent, document.getElementById("me-status").textContent, document.getElementById("feed").innerText, document.getElementById("login-view").hidden, document.getElementById("app-view").hidden].join(" | ")`))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func loginAs(t *testing.T, ctx context.Context, base, user string) {
	t.Helper()
	act(t, ctx, 15*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), "revocast"),
		chromedp.Click(chromedp.ID("login")),
	)
	waitJS(t, ctx, 5*time.Second, `document.getElementById("me").textContent.includes('"sub": "`+user+`"')`)
}

// click clicks the element the CSS selector finds, from JavaScript: a background tab (the other
// device) gets no input events in headless Chromium.
func click(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	if !eval[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e || e.closest("[hidden]")) return false; e.click(); return true })()`, selector)) {
		t.Fatalf("no visible %s; banner %q, status %q", selector, text(t, ctx, `document.getElementById("banner").textContent`),
			text(t, ctx, `document.getElementById("me-status").textContent`))
	}
}

const loggedOutJS = `!document.getElementById("login-view").hidden && document.getElementById("app-view").hidden`

// TestConsoleInBrowser drives the web console of `revocast dev` (access tokens of 3 s) in headless
// Chromium: login, silent refresh over 10 s, log out everywhere seen by another device within a
// second, revoking one session from the list, a cross-origin logout refused, and the live feed.
func TestConsoleInBrowser(t *testing.T) {
	b := browser(t)
	base, _, _ := startDevArgs(t, filepath.Join(t.TempDir(), "data"), testenv.FreePort(t), "--access-ttl", "3s")

	a := tab(t, b)
	t.Run("login shows alice", func(t *testing.T) {
		loginAs(t, a, base, "alice")
		if who := text(t, a, `document.getElementById("who").textContent`); who != "Alice" {
			t.Fatalf("header shows %q", who)
		}
	})

	t.Run("silent refresh keeps the page logged in", func(t *testing.T) {
		first := text(t, a, `document.getElementById("me").textContent`)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			state := text(t, a, `[document.getElementById("me-status").className,
				document.getElementById("banner").hidden, document.getElementById("app-view").hidden].join(",")`)
			if state != "status ok,true,false" {
				t.Fatalf("after %v: status,bannerHidden,appHidden = %s; page: %s", 10*time.Second-time.Until(deadline),
					state, text(t, a, "document.body.innerText"))
			}
			time.Sleep(250 * time.Millisecond)
		}
		if now := text(t, a, `document.getElementById("me").textContent`); now == first {
			t.Fatal("the claims did not change in 10 s with 3 s tokens: no refresh happened")
		}
	})

	t.Run("log out everywhere reaches the other device within a second", func(t *testing.T) {
		other := tab(t, b)
		loginAs(t, other, base, "alice")
		waitJS(t, other, 5*time.Second, `document.getElementById("feed-scope").textContent !== ""`) // feed connected
		start := time.Now()
		click(t, a, `#logout-all`)
		waitJS(t, other, 2*time.Second, loggedOutJS)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("the other device showed it was logged out %v after the click", d)
		}
		if msg := text(t, other, `document.getElementById("banner").textContent`); !strings.Contains(msg, "ended elsewhere") {
			t.Fatalf("the other device says %q", msg)
		}
		if msg := text(t, a, `document.getElementById("banner").textContent`); !strings.Contains(msg, "rejected this page's token") {
			t.Fatalf("the clicking device says %q", msg)
		}
		if status := eval[int](t, other, `fetch("/v1/sessions").then(r => r.status)`); status != 401 {
			t.Fatalf("the other device's next API call: %d, want 401", status)
		}
	})

	t.Run("revoke one session from the list", func(t *testing.T) {
		c, d := tab(t, b), tab(t, b)
		loginAs(t, c, base, "bob")
		loginAs(t, d, base, "bob")
		eval[any](t, c, `sessions()`)
		waitJS(t, c, 5*time.Second, `document.querySelectorAll("#sessions tbody tr").length === 2`)
		click(t, c, `#sessions tbody tr:not(:has(.this)) button.revoke`)
		waitJS(t, d, 3*time.Second, loggedOutJS)
		// The live feed of the device that clicked shows the revocation and its propagation time.
		waitJS(t, c, 3*time.Second, `[...document.querySelectorAll("#feed li")].some(li => /session .* revoked \(session_deleted\) — reached this page \d+ ms/.test(li.textContent))`)
		time.Sleep(1500 * time.Millisecond) // a whoami poll or two later, c is still in
		if state := text(t, c, `document.getElementById("me-status").className + (document.getElementById("app-view").hidden ? " out" : " in")`); state != "status ok in" {
			t.Fatalf("the device that revoked the other session: %s", state)
		}
		if os.Getenv("REVOCAST_SCREENSHOT") != "" {
			act(t, c, 10*time.Second, chromedp.EmulateViewport(1200, 900), chromedp.Sleep(300*time.Millisecond))
			png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
			if err == nil {
				err = os.WriteFile(os.Getenv("REVOCAST_SCREENSHOT"), png, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("cross-origin logout is refused", func(t *testing.T) {
		e := tab(t, b)
		loginAs(t, e, base, "bob")
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<form id="f" method="POST" action="%s/v1/logout"></form><script>document.getElementById("f").submit()</script>`, base)
		}))
		defer evil.Close()
		act(t, e, 10*time.Second, chromedp.Navigate(evil.URL))
		waitJS(t, e, 5*time.Second, `location.href.endsWith("/v1/logout") && document.body.innerText.includes("forbidden")`)
		act(t, e, 10*time.Second, chromedp.Navigate(base+"/"))
		waitJS(t, e, 5*time.Second, `document.getElementById("me").textContent.includes('"sub": "bob"')`)
	})
}

// startDevArgs is startDev with extra flags.
func startDevArgs(t *testing.T, dataDir string, natsPort int, extra ...string) (issuerURL, demoURL string, stop func()) {
	t.Helper()
	issuerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	demoAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := append([]string{"dev", "--data-dir", dataDir, "--nats-port", fmt.Sprint(natsPort), "--http", issuerAddr, "--demo", demoAddr}, extra...)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, io.Discard) }()
	issuerURL, demoURL = "http://"+issuerAddr, "http://"+demoAddr
	waitHTTP(t, demoURL+"/readyz")
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("dev did not stop")
		}
	}
	t.Cleanup(stop)
	return issuerURL, demoURL, stop
}
