package testenv

import (
	"net"
	"testing"
	"time"
)

// WaitFor calls f until it returns nil, polling every 10ms at first and backing off to 100ms. After
// timeout it fails the test with f's last error. It is the replacement for sleeping in tests.
func WaitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	every := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: condition not met within %v: %v", timeout, err)
		}
		time.Sleep(every)
		if every < 100*time.Millisecond {
			every += every / 2
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
