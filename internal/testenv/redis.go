package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a test redis-server.
type RedisOptions struct {
	// AOF turns the append-only file on. Defaults to off (nothing is persisted).
	AOF bool
	// AppendFsync is "always", "everysec" or "no"; only with AOF. Defaults to "everysec".
	AppendFsync string
	// Password sets requirepass. Defaults to none.
	Password string
	// Args are extra redis-server arguments, e.g. "--maxmemory", "100mb".
	Args []string
}

// Redis is a redis-server child process on 127.0.0.1 with its own data directory.
type Redis struct {
	// Addr is "127.0.0.1:PORT"; it stays the same across Restart.
	Addr string
	// Dir is the data directory; it survives Stop, Kill and Restart.
	Dir string

	opts RedisOptions
	port int
	bin  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server on a free port and waits until it answers PING. The process is
// killed when the test ends. A missing redis-server fails the test with how to install it.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not found in PATH: run `make test`, which installs it")
	}
	if opts.AOF && opts.AppendFsync == "" {
		opts.AppendFsync = "everysec"
	}
	r := &Redis{Dir: t.TempDir(), opts: opts, bin: bin}
	for attempt := 0; ; attempt++ {
		r.port = FreePort(t)
		r.Addr = "127.0.0.1:" + strconv.Itoa(r.port)
		err := r.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("testenv: %v", err)
		}
	}
	t.Cleanup(func() { r.stop(syscall.SIGKILL) })
	return r
}

func (r *Redis) args() []string {
	aof := "no"
	if r.opts.AOF {
		aof = "yes"
	}
	args := []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.Dir,
		"--save", "", "--appendonly", aof, "--daemonize", "no", "--logfile", "", "--protected-mode", "no"}
	if r.opts.AOF {
		args = append(args, "--appendfsync", r.opts.AppendFsync)
	}
	if r.opts.Password != "" {
		args = append(args, "--requirepass", r.opts.Password)
	}
	return append(args, r.opts.Args...)
}

// start launches the process and waits for PING.
func (r *Redis) start() error {
	logf, err := os.OpenFile(filepath.Join(r.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, r.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.opts.Password, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on %s exited at start: %s", r.Addr, r.logTail())
		default:
		}
		if time.Now().After(deadline) {
			r.stop(syscall.SIGKILL)
			return fmt.Errorf("redis-server on %s not ready in 10s (%v): %s", r.Addr, err, r.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop signals the process and waits for it to exit. It is a no-op when it is not running.
func (r *Redis) stop(sig syscall.Signal) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func (r *Redis) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, " | ")
}

// Client returns a new go-redis client for the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.opts.Password})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// URL returns redis://[:password@]127.0.0.1:PORT/0.
func (r *Redis) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr, Path: "/0"}
	if r.opts.Password != "" {
		u.User = url.UserPassword("", r.opts.Password)
	}
	return u.String()
}

// Stop shuts the server down gracefully (SIGTERM) and waits for it to exit.
func (r *Redis) Stop(t testing.TB) { r.stop(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as kill -9 does, and waits for it to exit.
func (r *Redis) Kill(t testing.TB) { r.stop(syscall.SIGKILL) }

// Restart starts the server again on the same port and data directory (stopping it first if it
// runs) and waits until it answers PING.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.stop(syscall.SIGKILL)
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port can linger for a moment
		if err = r.start(); err == nil {
			return
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) && !strings.Contains(err.Error(), "exited at start") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: restart: %v", err)
}
