package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/issuer/jssession"
	"github.com/revocast/revocast/issuer/redissession"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/jsstore"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

func init() {
	register(command{name: "dev", summary: "everything in one process: embedded NATS with JetStream, the issuer and a demo service", run: runDev})
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "everything in one process: embedded NATS (JetStream storage under --data-dir), the issuer on --http and a demo service on --demo"
	fs := newFlagSet("dev", summary, stderr)
	var (
		f    issuerFlags
		demo demoFlags
	)
	f.register(fs, "", " (default <data-dir>/keys)", "", " (default: demo users alice (admin) and bob, password revocast, written to <data-dir>/users.json)")
	var httpAddr, demoAddr string
	addrVar(fs, &httpAddr, "http", "127.0.0.1:8080", "issuer HTTP listen address")
	addrVar(fs, &demoAddr, "demo", "127.0.0.1:8081", "demo service HTTP listen address")
	dataDir := fs.String("data-dir", ".revocast", "where NATS keeps the revocation log and the sessions, and the keys and users live")
	natsPort := fs.Int("nats-port", 4222, "port of the embedded NATS server (on 127.0.0.1)")
	redisURL := fs.String("redis", "", "keep the revocation log and sessions in this Redis instead of JetStream")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	demo.iss, demo.aud, demo.prefix, demo.service = f.iss, f.aud, f.prefix, "demo-service"
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create --data-dir %s: %v", *dataDir, err)
	}
	if f.keys == "" {
		f.keys = filepath.Join(*dataDir, "keys")
	}
	if f.users == "" {
		if f.users, err = demoUsers(*dataDir); err != nil {
			return err
		}
	}
	// Events are signed in dev too: the issuer signs with a key kept in the data dir and the demo
	// service trusts only it.
	if f.eventKey == "" {
		dir := filepath.Join(*dataDir, "event-keys")
		f.eventKey = filepath.Join(dir, "dev.pem")
		if _, err := os.Stat(f.eventKey); err != nil {
			if _, _, err := writeEventKey(dir, "dev"); err != nil {
				return fmt.Errorf("event key: %v", err)
			}
		}
		demo.trustedKeys = filepath.Join(dir, "dev.pub.pem")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ns, err := startEmbeddedNATS(*natsPort, filepath.Join(*dataDir, "nats"))
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("revocast-dev"), nats.InProcessServer(ns), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to the embedded NATS: %v", err)
	}
	defer nc.Close()

	var (
		log      revoker.Log
		src      subscriber.Source
		sessions issuer.SessionStore
	)
	if *redisURL != "" {
		rc, err := connectRedis(ctx, *redisURL, nil)
		if err != nil {
			return err
		}
		defer rc.Close()
		rs := redisstore.New(rc)
		log, src, sessions = rs, rs, redissession.New(redisstore.NewSessions(rc))
	} else {
		js, err := jsstore.New(ctx, nc)
		if err != nil {
			return err
		}
		ss, err := jsstore.NewSessions(ctx, nc)
		if err != nil {
			return err
		}
		log, src, sessions = js, js, jssession.New(ss)
	}
	stack, err := startIssuer(ctx, &f, nc, log, sessions, nil, logger)
	if err != nil {
		return err
	}
	defer func() { cancel(); <-stack.done; stack.close() }()
	iss, err := listenAndServe(ctx, "issuer", httpAddr, "http", stack.handler, logger)
	if err != nil {
		return err
	}
	demo.refreshURL = iss.url() // browsers on the console: the demo service refreshes silently
	d, err := startDemo(ctx, &demo, nc, src, iss.url()+"/.well-known/jwks.json", logger)
	if err != nil {
		return err
	}
	defer d.close()
	dm, err := listenAndServe(ctx, "demo service", demoAddr, "demo", d.handler, logger)
	if err != nil {
		return err
	}
	if stack.console != nil {
		if err := stack.console.SetDemoURL(dm.url()); err != nil {
			return err
		}
	}
	store := "JetStream in " + filepath.Join(*dataDir, "nats")
	if *redisURL != "" {
		store = "Redis at " + *redisURL
	}
	fmt.Fprint(stdout, banner(iss.url(), dm.url(), ns.ClientURL(), store))
	err = errors.Join(iss.wait(), dm.wait())
	drain(nc)
	return err
}

// startEmbeddedNATS starts nats-server on 127.0.0.1:port with JetStream file storage in dir.
func startEmbeddedNATS(port int, dir string) (*server.Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if ln, err := net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("NATS port %d is taken (another NATS running?): choose another with --nats-port", port)
	} else {
		ln.Close()
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "revocast-dev", Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start on %s", addr)
	}
	return ns, nil
}

// demoUsers writes the demo users file (alice, admin; bob; password "revocast") into dir unless it
// exists, and returns its path.
func demoUsers(dir string) (string, error) {
	path := filepath.Join(dir, "users.json")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	hash, err := issuer.HashPassword("revocast", issuer.DefaultHashParams)
	if err != nil {
		return "", err
	}
	body := fmt.Sprintf(`{"users":[
  {"username":"alice","password_hash":%q,"roles":["admin"],"name":"Alice","email":"alice@example.com"},
  {"username":"bob","password_hash":%q,"roles":[],"name":"Bob","email":"bob@example.com"}
]}
`, hash, hash)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("write demo users: %v", err)
	}
	return path, nil
}

func banner(issuerURL, demoURL, natsURL, store string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
revocast dev is running.

  issuer        %s   (login, refresh, logout, sessions, JWKS)
  demo service  %s   (GET /whoami checks every token against the live revocation cache)
  NATS          %s   (revocations are broadcast on revocast.v1.rev)
  store         %s
  users         alice (admin) and bob, password "revocast"

Try it (copy and paste):

  TOKEN=$(curl -s -X POST %s/v1/login -d '{"username":"alice","password":"revocast"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s %s/whoami -H "Authorization: Bearer $TOKEN"                 # 200: you are alice
  curl -s -X POST %s/v1/logout -H "Authorization: Bearer $TOKEN" -w '%%{http_code}\n'   # 204: logged out
  curl -s %s/whoami -H "Authorization: Bearer $TOKEN"                 # 401: token revoked (session)

Watch revocations as they happen: go run ./cmd/revocast watch --nats %s
Press Ctrl-C to stop; the data stays in the data dir.
`, issuerURL, demoURL, natsURL, store, issuerURL, demoURL, issuerURL, demoURL, natsURL)
	return b.String()
}
