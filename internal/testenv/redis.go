package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures StartRedis. The zero value is a plain in-memory
// redis-server with no persistence and no password.
type RedisOptions struct {
	// AOF turns on the append-only file (appendonly yes). Defaults to off.
	AOF bool
	// AppendFsync is the appendfsync policy: "always", "everysec" or "no".
	// Defaults to "everysec". Only used with AOF.
	AppendFsync string
	// Password sets requirepass. Defaults to none.
	Password string
	// Args are extra redis-server arguments appended last, for example
	// []string{"--maxmemory", "100mb"}.
	Args []string
}

// Redis is a real redis-server child process listening on 127.0.0.1 with
// its own data directory. It is started by StartRedis and killed by the
// test's cleanup. Its methods must be called from the test goroutine.
type Redis struct {
	// Addr is "127.0.0.1:PORT". It stays the same across Restart.
	Addr string
	// Dir is the data directory (a t.TempDir()); the AOF lives here, and so
	// does redis.log, the captured stdout and stderr of every run.
	Dir string
	// Password is RedisOptions.Password.
	Password string

	bin  string
	opts RedisOptions
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// errRedisNotFound is the message other engineers see when redis-server is missing.
const errRedisNotFound = "redis-server not found in PATH: run `make test`, which installs it"

// StartRedis starts a redis-server on a free loopback port with a fresh
// t.TempDir() data directory and waits until it answers PING. It calls
// t.Fatal if redis-server is not in PATH or does not become ready within 10s
// (the message includes the tail of redis.log). t.Cleanup kills the process
// and waits for it to exit.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(errRedisNotFound)
	}
	if opts.AppendFsync == "" {
		opts.AppendFsync = "everysec"
	}
	r := &Redis{Dir: t.TempDir(), Password: opts.Password, bin: bin, opts: opts}
	t.Cleanup(r.cleanup)
	// A free port may be taken by another process before redis binds it:
	// retry with a new port.
	var lastErr error
	for range 5 {
		r.port = FreePort(t)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		if lastErr = r.start(); lastErr == nil {
			return r
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: start redis-server: %v\n%s", lastErr, r.logTail())
	return nil
}

var errAddrInUse = errors.New("address already in use")

// args returns the redis-server command line.
func (r *Redis) args() []string {
	aof := "no"
	if r.opts.AOF {
		aof = "yes"
	}
	a := []string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.Dir,
		"--save", "",
		"--appendonly", aof,
		"--appendfsync", r.opts.AppendFsync,
		"--daemonize", "no",
		"--logfile", "",
	}
	if r.opts.Password != "" {
		a = append(a, "--requirepass", r.opts.Password)
	}
	return append(a, r.opts.Args...)
}

func (r *Redis) logPath() string { return filepath.Join(r.Dir, "redis.log") }

// start launches the process and waits until it answers PING. On failure
// the process is gone when start returns.
func (r *Redis) start() error {
	logf, err := os.OpenFile(r.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== testenv: starting redis-server on %s at %s\n", r.Addr, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, r.args()...)
	cmd.Dir = r.Dir
	cmd.Stdout = logf // an *os.File: no copying goroutine
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	logf.Close() // the child has its own copy
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	err = waitFor(10*time.Second, func() error {
		select {
		case <-done:
			return nil // reported below
		default:
		}
		return r.ping()
	})
	select {
	case <-done:
		if bytes.Contains(r.logBytes(), []byte("Address already in use")) {
			return fmt.Errorf("redis-server exited: %s: %w", cmd.ProcessState, errAddrInUse)
		}
		return fmt.Errorf("redis-server exited before it was ready: %s", cmd.ProcessState)
	default:
	}
	if err != nil {
		r.signal(sigKill)
		return fmt.Errorf("redis-server not ready after 10s: %w", err)
	}
	return nil
}

// ping dials Addr, authenticates if needed and expects +PONG.
func (r *Redis) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	var req bytes.Buffer
	replies := 1
	if r.Password != "" {
		fmt.Fprintf(&req, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(r.Password), r.Password)
		replies++
	}
	req.WriteString("*1\r\n$4\r\nPING\r\n")
	if _, err := c.Write(req.Bytes()); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	var line string
	for range replies {
		if line, err = br.ReadString('\n'); err != nil {
			return err
		}
		if strings.HasPrefix(line, "-NOAUTH") && r.Password == "" {
			return nil // up, with ACL users only (the default user off): ready as far as we can tell
		}
		if strings.HasPrefix(line, "-") {
			return fmt.Errorf("redis: %s", strings.TrimSpace(line))
		}
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis: unexpected PING reply %q", line)
	}
	return nil
}

// signal sends sig to the running process group, if any, and waits up to
// 10s for it to exit; after that it sends SIGKILL and waits for good.
// It reports whether a process was running.
func (r *Redis) signal(sig os.Signal) bool {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
	}
	signalGroup(cmd.Process, sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		signalGroup(cmd.Process, sigKill)
		<-done
	}
	return true
}

func (r *Redis) cleanup() { r.signal(sigKill) }

// Client returns a new go-redis client for Addr, authenticated with the
// password if one is set. So that commands against a stopped or killed server
// fail fast, it uses DialTimeout 1s and a single dial attempt per try
// (DialerRetries 1) instead of go-redis's 5s and 5; other options keep
// go-redis defaults (MaxRetries 3). t.Cleanup closes it; callers may close it
// earlier. Build your own redis.Options from Addr and Password for anything else.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:               r.Addr,
		Password:           r.Password,
		DialTimeout:        time.Second,
		DialerRetries:      1,
		DialerRetryTimeout: 10 * time.Millisecond,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// URL returns the redis URL for database 0, redis://[:password@]127.0.0.1:PORT/0,
// suitable for redis.ParseURL.
func (r *Redis) URL() string {
	if r.Password != "" {
		return fmt.Sprintf("redis://%s@%s/0", url.UserPassword("", r.Password), r.Addr)
	}
	return fmt.Sprintf("redis://%s/0", r.Addr)
}

// Stop shuts redis-server down gracefully with SIGTERM and waits for it to
// exit (SIGKILL after 10s). With AOF, everything written is on disk then.
// Stop on a stopped server does nothing.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.signal(sigTerm)
}

// Kill kills redis-server with SIGKILL (kill -9), like a crash or power cut
// to the process, and waits for it to exit. What survives depends on
// AppendFsync: with "always", every acknowledged write. Kill on a stopped
// server does nothing.
func (r *Redis) Kill(t testing.TB) {
	t.Helper()
	r.signal(sigKill)
}

// Restart starts redis-server again on the same port and data directory
// (stopping it gracefully first if it is still running) and waits until it
// answers PING, which with AOF means the file has been loaded. If the port is
// briefly busy it retries for up to 10s. Existing clients reconnect on
// their next command.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.signal(sigTerm)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("testenv: restart redis-server on %s: %v\n%s", r.Addr, err, r.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *Redis) logBytes() []byte {
	b, _ := os.ReadFile(r.logPath())
	return b
}

// logTail returns the last 20 lines of redis.log for failure messages.
func (r *Redis) logTail() string {
	lines := strings.Split(strings.TrimRight(string(r.logBytes()), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "--- tail of " + r.logPath() + " ---\n" + strings.Join(lines, "\n")
}
