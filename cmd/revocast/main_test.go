package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revocast/revocast/internal/testenv"
)

// runCmd runs one command line in-process and returns its exit code and output.
func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestFlagsFromEnvironment(t *testing.T) {
	fs := newFlagSet("x", "test", &bytes.Buffer{})
	grace := fs.Duration("refresh-grace", 10*time.Second, "")
	addr := fs.String("http", "a", "")
	env := map[string]string{"REVOCAST_REFRESH_GRACE": "3s", "REVOCAST_HTTP": "from-env"}
	if err := parseFlags(fs, []string{"--http", "from-flag"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *grace != 3*time.Second {
		t.Errorf("refresh-grace = %v, want 3s from REVOCAST_REFRESH_GRACE", *grace)
	}
	if *addr != "from-flag" {
		t.Errorf("http = %q: a flag on the command line must win over the environment", *addr)
	}
	fs = newFlagSet("x", "test", &bytes.Buffer{})
	fs.Duration("access-ttl", time.Minute, "")
	err := parseFlags(fs, nil, func(k string) string { return map[string]string{"REVOCAST_ACCESS_TTL": "soon"}[k] })
	if err == nil || !strings.Contains(err.Error(), "REVOCAST_ACCESS_TTL") {
		t.Fatalf("a bad environment value must name the variable: %v", err)
	}
}

func TestExitCodesAndOneLineErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr (or stdout for code 0)
	}{
		{"help", []string{"--help"}, 0, "Commands:"},
		{"version", []string{"version"}, 0, "revocast"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad flag", []string{"issuer", "--bogus"}, 2, "flag provided but not defined"},
		{"command help", []string{"issuer", "--help"}, 0, "-refresh-grace"},
		{"stray argument", []string{"version", "extra"}, 2, "unexpected argument"},
		{"unreachable redis", []string{"issuer", "--redis", "redis://127.0.0.1:1/0"}, 2, "cannot reach Redis at 127.0.0.1:1"},
		{"bad redis url", []string{"issuer", "--redis", "http://x"}, 2, "invalid --redis URL"},
		{"revoke bad kind", []string{"revoke", "--kind", "user", "--id", "x"}, 2, "--kind must be"},
		{"revoke all with id", []string{"revoke", "--kind", "all", "--id", "x", "--redis", "redis://127.0.0.1:1"}, 2, "takes no --id"},
		{"revoke id with wildcard", []string{"revoke", "--kind", "session", "--id", "a.>"}, 2, "--id"},
		{"revoke nowhere", []string{"revoke", "--kind", "session", "--id", "s1"}, 2, "say where to revoke"},
		{"revoke issuer without token", []string{"revoke", "--kind", "session", "--id", "s1", "--issuer-url", "http://127.0.0.1:1"}, 2, "REVOCAST_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("output does not mention %q:\nstdout %s\nstderr %s", tc.want, stdout, stderr)
			}
			if tc.code == 2 {
				last := strings.TrimSpace(stderr)
				if i := strings.LastIndex(last, "\n"); i >= 0 {
					last = last[i+1:]
				}
				if !strings.HasPrefix(last, "revocast") || strings.Contains(stderr, "goroutine ") {
					t.Fatalf("want a one-line error and no stack trace, got %q", stderr)
				}
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	code, stdout, stderr := runCmd(t, "revocast\n", "hash-password", "--argon2-memory", "64", "--argon2-time", "1")
	if code != 0 || !strings.HasPrefix(stdout, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash-password: %d %q %q", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, "revocast", "hash-password", "--algorithm", "bcrypt", "--bcrypt-cost", "4")
	if code != 0 || !strings.HasPrefix(stdout, "$2a$04$") {
		t.Fatalf("bcrypt: %d %q", code, stdout)
	}
	if code, _, stderr := runCmd(t, "", "hash-password"); code != 2 || !strings.Contains(stderr, "empty password") {
		t.Fatalf("empty stdin: %d %q", code, stderr)
	}
}

func TestIssuerPortTaken(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	if err := os.WriteFile(users, []byte(`{"users":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, stderr := runCmd(t, "", "issuer", "--redis", r.URL(), "--nats", n.URL(), "--users", users,
		"--keys", filepath.Join(dir, "keys"), "--http", taken.Addr().String())
	if code != 2 || !strings.Contains(stderr, "cannot listen on "+taken.Addr().String()) || !strings.Contains(stderr, "--http") {
		t.Fatalf("exit %d, stderr %q: want a one-line error naming the address and the flag", code, stderr)
	}
	code, _, stderr = runCmd(t, "", "issuer", "--redis", r.URL(), "--nats", n.URL(), "--users", filepath.Join(dir, "missing.json"),
		"--keys", filepath.Join(dir, "keys"), "--http", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "missing.json") {
		t.Fatalf("missing users file: exit %d, stderr %q", code, stderr)
	}
}

// syncWriter serializes writes from a command's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestAddressFlagTakesABarePort(t *testing.T) {
	for _, tc := range []struct {
		def, arg, want string
		bad            bool
	}{
		{def: "127.0.0.1:8080", arg: "9090", want: "127.0.0.1:9090"},
		{def: ":8080", arg: "9090", want: ":9090"},
		{def: "127.0.0.1:8080", arg: "0.0.0.0:9090", want: "0.0.0.0:9090"},
		{def: "127.0.0.1:8080", arg: "[::1]:9090", want: "[::1]:9090"},
		{def: "127.0.0.1:8080", arg: "", want: ""}, // net.Listen says what is wrong with it
		{def: "127.0.0.1:8080", arg: "70000", bad: true},
		{def: "127.0.0.1:8080", arg: "-1", bad: true},
	} {
		fs := newFlagSet("x", "test", &bytes.Buffer{})
		var addr string
		addrVar(fs, &addr, "http", tc.def, "")
		if addr != tc.def {
			t.Errorf("default = %q, want %q", addr, tc.def)
		}
		err := parseFlags(fs, []string{"--http", tc.arg}, func(string) string { return "" })
		switch {
		case tc.bad && err == nil:
			t.Errorf("--http %q: accepted as %q", tc.arg, addr)
		case !tc.bad && err != nil:
			t.Errorf("--http %q: %v", tc.arg, err)
		case !tc.bad && addr != tc.want:
			t.Errorf("--http %q with default %q = %q, want %q", tc.arg, tc.def, addr, tc.want)
		}
	}
	// From the environment too.
	fs := newFlagSet("x", "test", &bytes.Buffer{})
	var addr string
	addrVar(fs, &addr, "http", "127.0.0.1:8080", "")
	if err := parseFlags(fs, nil, func(k string) string { return map[string]string{"REVOCAST_HTTP": "9091"}[k] }); err != nil {
		t.Fatal(err)
	}
	if addr != "127.0.0.1:9091" {
		t.Errorf("REVOCAST_HTTP=9091 gave %q", addr)
	}
}
