package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/issuer/console"
	"github.com/revocast/revocast/issuer/redissession"
	"github.com/revocast/revocast/metrics"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

func init() {
	register(command{name: "issuer", summary: "run the issuer: login, refresh, logout, sessions, JWKS, admin revocations", run: runIssuer})
	register(command{name: "hash-password", summary: "read a password on stdin and print a hash for the users file", run: runHashPassword})
}

// issuerFlags are the flags the issuer shares with dev.
type issuerFlags struct {
	keys, users, iss, aud, prefix string
	eventKey                      string
	argonMemory, argonTime        uint
	accessTTL, grace              time.Duration
	insecureCookies               bool
	console                       bool
	consoleDemo                   string
}

// register adds the flags; keysUsage and usersUsage describe the defaults of --keys and --users
// ("" defaults).
func (f *issuerFlags) register(fs *flag.FlagSet, keysDefault, keysUsage, usersDefault, usersUsage string) {
	fs.StringVar(&f.keys, "keys", keysDefault, "directory of signing keys, one PKCS#8 PEM file per key named <kid>.pem (one is generated if empty)"+keysUsage)
	fs.StringVar(&f.users, "users", usersDefault, "users file (JSON; see 'revocast hash-password'); re-read on SIGHUP"+usersUsage)
	fs.StringVar(&f.iss, "issuer", issuer.DefaultIssuer, "iss claim of access tokens")
	fs.StringVar(&f.aud, "audience", issuer.DefaultAudience, "aud claim of access tokens")
	fs.StringVar(&f.prefix, "prefix", events.DefaultPrefix, "NATS subject prefix of revocation events")
	fs.DurationVar(&f.accessTTL, "access-ttl", issuer.DefaultAccessTTL, "lifetime of access tokens")
	fs.DurationVar(&f.grace, "refresh-grace", issuer.DefaultRefreshGrace, "how long a just-rotated refresh token is still accepted (two tabs refreshing at once)")
	fs.StringVar(&f.eventKey, "event-key", "", "Ed25519 private key file (PKCS#8 PEM, kid = file name) that signs revocation events; see 'revocast event-key'")
	fs.UintVar(&f.argonMemory, "argon2-memory", uint(issuer.DefaultHashParams.Memory), "argon2id memory (KiB) of the dummy hash an unknown user is compared against: match the users file's hashes")
	fs.UintVar(&f.argonTime, "argon2-time", uint(issuer.DefaultHashParams.Time), "argon2id passes of that dummy hash")
	fs.BoolVar(&f.console, "console", true, "serve the web console at / (log in, sessions, live revocations)")
	fs.StringVar(&f.consoleDemo, "console-demo-url", "", "the resource server whose GET /whoami the console shows (e.g. http://127.0.0.1:8081)")
	fs.BoolVar(&f.insecureCookies, "insecure-cookies", false, "drop the Secure attribute and __Host-/__Secure- cookie prefixes (plain-http development on a non-localhost host only)")
}

// issuerStack is a running issuer with its revoker.
type issuerStack struct {
	issuer  *issuer.Issuer
	revoker *revoker.Revoker
	console *console.Console // nil with --console=false
	handler http.Handler     // the issuer (and console) with /metrics, request ids and HTTP metrics
	done    chan struct{}
}

// close stops the console's event streams; the caller then drains NATS.
func (s *issuerStack) close() {
	if s.console != nil {
		_ = s.console.Close()
	}
	_ = s.issuer.Close()
}

// startIssuer builds the revoker on log and nc and the issuer on sessions, and runs the revoker's
// heartbeat loop until ctx ends.
func startIssuer(ctx context.Context, f *issuerFlags, nc *nats.Conn, log revoker.Log, sessions issuer.SessionStore, ready []issuer.Pinger, logger *slog.Logger) (*issuerStack, error) {
	const leeway = 30 * time.Second
	opts := []revoker.Option{
		revoker.WithPrefix(f.prefix),
		revoker.WithMaxTokenLifetime(f.accessTTL),
		revoker.WithLeeway(leeway),
		revoker.WithLogger(logger),
		revoker.WithErrorHandler(func(err error) { logger.Warn("revoker", "err", err) }),
	}
	if f.eventKey != "" {
		kid, key, err := loadEventKey(f.eventKey)
		if err != nil {
			return nil, err
		}
		opts = append(opts, revoker.WithSigner(kid, key))
	}
	rv, err := revoker.New(nc, log, opts...)
	if err != nil {
		return nil, err
	}
	is, err := issuer.New(issuer.Config{
		Issuer:          f.iss,
		Audience:        f.aud,
		AccessTTL:       f.accessTTL,
		RefreshGrace:    f.grace,
		KeysDir:         f.keys,
		Users:           f.users,
		Sessions:        sessions,
		Revoker:         rv,
		Ready:           ready,
		Logger:          logger,
		InsecureCookies: f.insecureCookies,
		PasswordHash:    issuer.HashParams{Algorithm: "argon2id", Memory: uint32(f.argonMemory), Time: uint32(f.argonTime), Threads: 1},
	})
	if err != nil {
		return nil, err
	}
	reg := newRegistry(metrics.Issuer(is), metrics.Revoker(rv))
	s := &issuerStack{issuer: is, revoker: rv, done: make(chan struct{})}
	var h http.Handler = is
	if f.console {
		c, err := console.New(console.Config{Issuer: is, API: is, Sessions: sessions, NATS: nc, Prefix: f.prefix, Logger: logger})
		if err != nil {
			return nil, err
		}
		if f.consoleDemo != "" {
			if err := c.SetDemoURL(f.consoleDemo); err != nil {
				_ = c.Close()
				return nil, fmt.Errorf("--console-demo-url: %v", err)
			}
		}
		s.console, h = c, c
		// Event streams never end by themselves: close them as shutdown begins, so the server's
		// graceful shutdown does not wait for open console tabs.
		context.AfterFunc(ctx, func() { _ = c.Close() })
	}
	s.handler = observed("issuer", reg, h)
	go func() {
		defer close(s.done)
		_ = rv.Run(ctx)
	}()
	go func() { // SIGHUP re-reads the users file
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := is.ReloadUsers(); err != nil {
					logger.Error("reload users", "err", err)
				} else {
					logger.Info("users reloaded", "file", f.users)
				}
			}
		}
	}()
	return s, nil
}

func runIssuer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "run the issuer: login, refresh, logout, sessions, JWKS, admin revocations"
	fs := newFlagSet("issuer", summary, stderr)
	var f issuerFlags
	f.register(fs, "keys", "", "users.json", "")
	var sf serviceFlags
	sf.register(fs, "127.0.0.1:8080", "the revocation log and sessions")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns, err := sf.connect(ctx, stderr, "revocast-issuer")
	if err != nil {
		return err
	}
	defer conns.close()
	logger, rc, nc := conns.logger, conns.redis, conns.nats

	log := redisstore.New(rc, redisstore.WithPrefix(sf.storePrefix))
	sessions := redissession.New(redisstore.NewSessions(rc, redisstore.WithSessionsPrefix(sf.storePrefix)))
	natsReady := issuer.PingFunc(func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("nats: not connected")
		}
		return nil
	})
	stack, err := startIssuer(ctx, &f, nc, log, sessions, []issuer.Pinger{natsReady}, logger)
	if err != nil {
		return err
	}
	srv, err := listenAndServe(ctx, "issuer", sf.http, "http", stack.handler, logger)
	if err != nil {
		cancel()
		<-stack.done
		return err
	}
	logger.Info("issuer listening", "url", srv.url(), "nats", nc.ConnectedUrlRedacted(), "redis", rc.Options().Addr)
	err = srv.wait()
	<-stack.done
	stack.close()
	drain(nc)
	return err
}

// drain drains nc (flushing what was published) and waits for it to close, at most 5s.
func drain(nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		return // already closed
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
	}
}

func runHashPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "read a password on stdin and print a hash for the users file"
	fs := newFlagSet("hash-password", summary, stderr)
	algo := fs.String("algorithm", "argon2id", "argon2id or bcrypt")
	memory := fs.Uint("argon2-memory", uint(issuer.DefaultHashParams.Memory), "argon2id memory in KiB")
	passes := fs.Uint("argon2-time", uint(issuer.DefaultHashParams.Time), "argon2id passes")
	cost := fs.Int("bcrypt-cost", 12, "bcrypt cost")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	pw, err := readPassword(stdinOf(ctx))
	if err != nil {
		return err
	}
	h, err := issuer.HashPassword(pw, issuer.HashParams{Algorithm: *algo, Memory: uint32(*memory), Time: uint32(*passes), Threads: 1, Cost: *cost})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// readPassword reads one line (at most 1 KiB) and strips the line ending.
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1025))
	if err != nil {
		return "", fmt.Errorf("read password: %v", err)
	}
	if len(b) > 1024 {
		return "", errors.New("password longer than 1 KiB")
	}
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "", errors.New("empty password on stdin (try: echo -n 'secret' | revocast hash-password)")
	}
	return s, nil
}
