package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/metrics"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

func init() {
	register(command{name: "demo-service", summary: "run a demo microservice that embeds the subscriber (GET /whoami)", run: runDemo})
}

// demoFlags are the flags the demo service shares with dev.
type demoFlags struct {
	iss, aud, prefix string
	trustedKeys      string
	service          string
	refreshURL       string
	failClosed       bool
}

func (f *demoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.iss, "issuer", "revocast", "required iss of access tokens")
	fs.StringVar(&f.aud, "audience", "revocast", "required aud of access tokens")
	fs.StringVar(&f.prefix, "prefix", events.DefaultPrefix, "NATS subject prefix of revocation events")
	fs.StringVar(&f.trustedKeys, "trusted-event-keys", "", "comma-separated Ed25519 public key files (PKIX PEM, kid = file name): accept only revocations signed by them")
	fs.StringVar(&f.service, "service", "demo-service", "service name in status replies ('revocast status') and metrics")
	fs.StringVar(&f.refreshURL, "silent-refresh", "", "the issuer's base URL: refresh an expired access cookie through it when the browser sent the refresh cookie (served on the issuer's site, e.g. proxied by its console)")
	fs.BoolVar(&f.failClosed, "fail-closed", false, "answer 503 while the revocation state is stale instead of accepting tokens")
}

// demoService is a running demo microservice.
type demoService struct {
	sub      *subscriber.Subscriber
	verifier *subscriber.Verifier
	handler  http.Handler
	done     chan struct{}
}

// startDemo starts the subscriber on nc and src (blocking until it is ready), the verifier on the
// issuer's JWKS, and returns the service's handler.
func startDemo(ctx context.Context, f *demoFlags, nc *nats.Conn, src subscriber.Source, jwksURL string, logger *slog.Logger) (*demoService, error) {
	sopts := []subscriber.Option{subscriber.WithPrefix(f.prefix), subscriber.WithLogger(logger), subscriber.WithService(f.service),
		subscriber.WithErrorHandler(func(err error) { logger.Warn("subscriber", "err", err) })}
	if f.trustedKeys != "" {
		keys, err := loadTrustedKeys(f.trustedKeys)
		if err != nil {
			return nil, err
		}
		sopts = append(sopts, subscriber.WithTrustedKeys(keys))
	}
	sub, err := subscriber.New(nc, src, sopts...)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sub.Start(sctx); err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("subscriber did not become ready: %v (is the store reachable?)", err)
	}
	v, err := subscriber.NewVerifier(ctx, subscriber.WithJWKS(jwksURL), subscriber.WithIssuer(f.iss),
		subscriber.WithAudience(f.aud), subscriber.WithVerifiedCache(10_000), subscriber.WithVerifierLogger(logger))
	if err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("cannot load the issuer's keys from %s: %v (start the issuer or set --jwks)", jwksURL, err)
	}
	var opts []subscriber.AuthOption
	if f.failClosed {
		opts = append(opts, subscriber.WithFailClosed())
	}
	if f.refreshURL != "" {
		opts = append(opts, subscriber.WithSilentRefresh(f.refreshURL))
	}
	auth := subscriber.NewAuthenticator(v, sub, append(opts, subscriber.WithAuthLogger(logger))...)

	mux := http.NewServeMux()
	mux.Handle("GET /whoami", auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := subscriber.ClaimsFrom(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"sub": c.Subject, "sid": c.SessionID, "jti": c.ID,
			"name": c.Name, "email": c.Email, "roles": c.Roles})
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := sub.Stats()
		body := map[string]any{"fresh": st.Fresh, "applied": st.Applied, "head": st.Head, "entries": st.Entries}
		if !st.Fresh {
			body["status"] = "stale"
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		// Fresh can be proven by heartbeats alone; ready also needs the store, which a cold start
		// and every catch-up read.
		if h, ok := src.(interface {
			Head(context.Context) (uint64, error)
		}); ok {
			hctx, cancel := context.WithTimeout(r.Context(), time.Second)
			_, err := h.Head(hctx)
			cancel()
			if err != nil {
				body["status"] = "store_unreachable"
				writeJSON(w, http.StatusServiceUnavailable, body)
				return
			}
		}
		body["status"] = "ready"
		writeJSON(w, http.StatusOK, body)
	})
	reg := newRegistry(metrics.Subscriber(sub), metrics.Authenticator(auth), metrics.Verifier(v))
	d := &demoService{sub: sub, verifier: v, handler: observed("demo", reg, mux), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		_ = v.Run(ctx)
	}()
	return d, nil
}

// close stops the subscriber and the verifier's refresh loop.
func (d *demoService) close() {
	_ = d.verifier.Close()
	<-d.done
	_ = d.sub.Close()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "run a demo microservice that embeds the subscriber (GET /whoami, /healthz, /readyz)"
	fs := newFlagSet("demo-service", summary, stderr)
	var f demoFlags
	f.register(fs)
	var sf serviceFlags
	sf.register(fs, "127.0.0.1:8081", "the revocation log")
	jwks := fs.String("jwks", "http://127.0.0.1:8080/.well-known/jwks.json", "the issuer's JWKS URL")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns, err := sf.connect(ctx, stderr, "revocast-demo")
	if err != nil {
		return err
	}
	defer conns.close()
	logger := conns.logger
	d, err := startDemo(ctx, &f, conns.nats, redisstore.New(conns.redis, redisstore.WithPrefix(sf.storePrefix)), *jwks, logger)
	if err != nil {
		return err
	}
	defer d.close()
	srv, err := listenAndServe(ctx, "demo service", sf.http, "http", d.handler, logger)
	if err != nil {
		cancel()
		return err
	}
	logger.Info("demo service listening", "url", srv.url(), "whoami", srv.url()+"/whoami")
	err = srv.wait()
	cancel()
	return err
}
