package testenv

import (
	"net"
	"sync"
	"testing"
	"time"
)

// WaitFor calls f until it returns nil or timeout elapses, polling every
// 10ms at first and backing off to every 100ms. On timeout it calls t.Fatalf
// with f's last error. f is always called at least once.
func WaitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := waitFor(timeout, f); err != nil {
		t.Fatalf("testenv: condition not met within %s: %v", timeout, err)
	}
}

// waitFor is WaitFor without the testing.TB: it returns f's last error on timeout.
func waitFor(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	every := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(every)
		if every < 100*time.Millisecond {
			every += every / 2
			if every > 100*time.Millisecond {
				every = 100 * time.Millisecond
			}
		}
	}
}

var (
	portsMu sync.Mutex
	// portsUsed remembers every port handed out by FreePort in this process,
	// so parallel tests never get the same one twice.
	portsUsed = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that FreePort has not returned before in this process. Another process can
// still take it before the caller binds it; callers that bind it themselves
// should retry with a new port when the bind fails.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: FreePort: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		portsMu.Lock()
		used := portsUsed[port]
		portsUsed[port] = true
		portsMu.Unlock()
		if !used {
			return port
		}
	}
	t.Fatalf("testenv: FreePort: no unused port after 100 attempts")
	return 0
}
