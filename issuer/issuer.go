package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// verifyLeeway is the clock skew tolerated when verifying the issuer's own access tokens (between
// instances behind one load balancer).
const verifyLeeway = 2 * time.Second

// Issuer is the revocast issuer: an http.Handler serving the HTTP API (see the package doc) plus
// its lifecycle. Create it with New; it is safe for concurrent use.
type Issuer struct {
	cfg     Config
	keys    *keySet
	parser  *jwt.Parser
	users   atomic.Pointer[map[string]*User]
	dummy   passwordVerifier
	hashSem chan struct{}
	byUser  *limiter
	byIP    *limiter
	handler http.Handler
	log     *slog.Logger

	counters counters

	atCookie, rtCookie string

	closeOnce sync.Once
	closed    atomic.Bool
}

// New returns an Issuer for cfg: it fills the defaults, loads the keys of cfg.KeysDir (generating
// one if there is none) and the users file. It does no network I/O. It returns an error wrapping
// ErrConfig for an invalid Config, an unreadable key or users file.
func New(cfg Config) (*Issuer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := loadKeys(cfg.KeysDir, cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	dummy, err := dummyVerifier(cfg.PasswordHash)
	if err != nil {
		return nil, err
	}
	is := &Issuer{
		cfg:   cfg,
		keys:  keys,
		dummy: dummy,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"EdDSA", "ES256", "RS256"}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(cfg.Clock),
			jwt.WithLeeway(verifyLeeway),
		),
		hashSem: make(chan struct{}, cfg.MaxConcurrentHashes),
		byUser:  newLimiter(cfg.LoginRate.PerUser, cfg.LoginRate.MaxKeys),
		byIP:    newLimiter(cfg.LoginRate.PerIP, cfg.LoginRate.MaxKeys),
		log:     cfg.Logger,

		counters: newCounters(),
	}
	if cfg.InsecureCookies {
		is.atCookie, is.rtCookie = "revocast_at", "revocast_rt"
	} else {
		is.atCookie, is.rtCookie = "__Host-revocast_at", "__Secure-revocast_rt"
	}
	if err := is.ReloadUsers(); err != nil {
		return nil, err
	}
	is.handler, err = is.routes()
	if err != nil {
		return nil, err
	}
	return is, nil
}

// ReloadUsers re-reads the users file. On error the users loaded before stay in use and the error
// (wrapping ErrConfig) is returned. Sessions of a user removed from the file end at their next
// refresh. Safe to call at any time (the binary calls it on SIGHUP).
func (is *Issuer) ReloadUsers() error {
	users, err := loadUsers(is.cfg.Users)
	if err != nil {
		return err
	}
	is.users.Store(&users)
	return nil
}

// user returns the user named name, or nil.
func (is *Issuer) user(name string) *User {
	return (*is.users.Load())[name]
}

// Close marks the Issuer closed: /readyz answers 503 from then on, so a load balancer stops sending
// traffic, while requests in flight and new ones are still served. It starts no goroutine and is
// idempotent; it never closes Sessions or Revoker (their owner does).
func (is *Issuer) Close() error {
	is.closeOnce.Do(func() { is.closed.Store(true) })
	return nil
}

// ServeHTTP serves the HTTP API.
func (is *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	is.handler.ServeHTTP(w, r)
}

func (is *Issuer) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/login", is.handleLogin)
	mux.HandleFunc("POST /v1/refresh", is.handleRefresh)
	mux.HandleFunc("POST /v1/logout", is.handleLogout)
	mux.HandleFunc("POST /v1/logout-all", is.handleLogoutAll)
	mux.HandleFunc("GET /v1/sessions", is.handleSessions)
	mux.HandleFunc("DELETE /v1/sessions/{id}", is.handleDeleteSession)
	mux.HandleFunc("POST /v1/revocations", is.handleRevocation)
	mux.HandleFunc("GET /.well-known/jwks.json", is.handleJWKS)
	mux.HandleFunc("GET /healthz", is.handleHealth)
	mux.HandleFunc("GET /readyz", is.handleReady)

	cop := http.NewCrossOriginProtection()
	for _, o := range is.cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("%w: TrustedOrigins: %w", ErrConfig, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.writeError(w, r, fmt.Errorf("%w: cross-origin request", ErrForbidden))
	}))
	// Requests the mux has no route for (404, 405) get the JSON error body too.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			w = &muxErrorWriter{ResponseWriter: w, is: is, r: r}
		}
		mux.ServeHTTP(w, r)
	})
	return cop.Handler(h), nil
}

// muxErrorWriter turns the plain-text 404 and 405 answers of http.ServeMux into JSON errors,
// keeping headers such as Allow.
type muxErrorWriter struct {
	http.ResponseWriter
	is    *Issuer
	r     *http.Request
	wrote bool
}

func (m *muxErrorWriter) WriteHeader(code int) {
	if m.wrote {
		return
	}
	m.wrote = true
	err := ErrNotFound
	if code == http.StatusMethodNotAllowed {
		err = ErrMethod
	}
	m.ResponseWriter.Header().Del("X-Content-Type-Options")
	m.is.writeError(m.ResponseWriter, m.r, err)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusNotFound)
	}
	return len(b), nil
}

// retryError carries how long a client should wait (Retry-After) with a sentinel.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// writeError answers err with its row of the error table. Details of a 500 or 503 go to the log
// only.
func (is *Issuer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	api := lookupError(err)
	switch api.status {
	case http.StatusInternalServerError:
		is.log.ErrorContext(r.Context(), "issuer: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	case http.StatusServiceUnavailable:
		is.log.WarnContext(r.Context(), "issuer: unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if api.status == http.StatusServiceUnavailable || api.status == http.StatusTooManyRequests {
		secs := 1
		var re *retryError
		if errors.As(err, &re) && re.after > 0 {
			secs = int((re.after + time.Second - 1) / time.Second)
		}
		w.Header().Set("Retry-After", fmt.Sprint(secs))
	}
	writeJSON(w, api.status, errorBody{Error: api.code, Message: api.message})
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// unavailable wraps a store or revoker failure: 503, nothing reported as done.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

func (is *Issuer) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyTimeout bounds each readiness ping.
const readyTimeout = 2 * time.Second

func (is *Issuer) handleReady(w http.ResponseWriter, r *http.Request) {
	if is.closed.Load() {
		is.writeError(w, r, fmt.Errorf("%w: closed", ErrNotReady))
		return
	}
	checks := is.cfg.Ready
	if p, ok := is.cfg.Sessions.(Pinger); ok {
		checks = append([]Pinger{p}, checks...)
	}
	for i, p := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := p.Ping(ctx)
		cancel()
		if err != nil {
			is.writeError(w, r, fmt.Errorf("%w: check %d: %w", ErrNotReady, i, err))
			is.log.WarnContext(r.Context(), "issuer: not ready", "check", i, "err", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (is *Issuer) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(is.keys.jwksJSON())
}
