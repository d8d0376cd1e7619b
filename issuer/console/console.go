// Package console is revocast's web console, served by the issuer (and so by `revocast dev`) at
// "/": log in, see the claims a resource server sees, list and revoke sessions, log out
// everywhere, and watch revocations arrive. It is plain HTML, CSS and JavaScript embedded in the
// binary, with no build step.
//
// The page never sees a token: it logs in with "cookie_only" and every call rides on the issuer's
// HttpOnly cookies. Besides the issuer's API the console serves:
//
//	GET /v1/console/whoami  the demo service's GET /whoami, proxied with the browser's cookies (so the
//	                        page shows what a resource server sees; the demo service refreshes an
//	                        expired access token silently, as the seed's deserializeUser did)
//	X-Revocast-Probe: 1     on POST /v1/logout, /v1/logout-all and DELETE /v1/sessions/{id}: the
//	                        answer says, in X-Revocast-Rejected-After-Ms, how long after the click
//	                        arrived the demo service first rejected the page's old access token
//	GET /v1/events          Server-Sent Events: every revocation as it is published on NATS — the
//	                        caller's own sessions and subject (and kind all) for everyone, the whole
//	                        stream for admins
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/subscriber"
)

//go:embed static
var static embed.FS

// Config configures a Console.
type Config struct {
	// Issuer authenticates the callers of /v1/events; API serves every path the console does not
	// (normally the same issuer, possibly wrapped).
	Issuer *issuer.Issuer
	API    http.Handler
	// Sessions lists a caller's sessions, to pick their revocations out of the stream.
	Sessions issuer.SessionStore
	// NATS and Prefix are where revocations are published. With a nil NATS the feed is empty.
	NATS   *nats.Conn
	Prefix string
	// Logger; defaults to discarding.
	Logger *slog.Logger
}

// Console is the web console's handler. Create it with New; Close it before closing its NATS
// connection.
type Console struct {
	cfg     Config
	files   http.Handler
	demo    atomic.Pointer[httputil.ReverseProxy]
	demoURL atomic.Pointer[string]
	sub     *nats.Subscription
	mu      sync.Mutex
	feeds   map[*feed]struct{}
	closed  chan struct{}
	once    sync.Once

	invalid atomic.Uint64 // undecodable events seen on NATS

	ownersMu sync.Mutex
	owners   map[string]string // session id → subject, for sessions seen through this console
}

// maxOwners bounds the session-owner memory; past it, it starts over.
const maxOwners = 100_000

func (c *Console) remember(sid, sub string) {
	c.ownersMu.Lock()
	defer c.ownersMu.Unlock()
	if len(c.owners) >= maxOwners {
		clear(c.owners)
	}
	c.owners[sid] = sub
}

func (c *Console) owner(sid string) string {
	c.ownersMu.Lock()
	defer c.ownersMu.Unlock()
	return c.owners[sid]
}

// feed is one connected Server-Sent Events client.
type feed struct {
	claims *subscriber.Claims
	admin  bool
	ch     chan events.Revocation
}

// New returns a console serving cfg.API for every path it does not handle itself.
func New(cfg Config) (*Console, error) {
	if cfg.Issuer == nil || cfg.API == nil || cfg.Sessions == nil {
		return nil, errors.New("console: Issuer, API and Sessions are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = events.DefaultPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, files: http.FileServerFS(root), feeds: map[*feed]struct{}{}, closed: make(chan struct{}),
		owners: map[string]string{}}
	if cfg.NATS != nil {
		c.sub, err = cfg.NATS.Subscribe(events.RevocationSubject(cfg.Prefix), c.onEvent)
		if err != nil {
			return nil, fmt.Errorf("console: subscribe: %w", err)
		}
	}
	return c, nil
}

// SetDemoURL sets the resource server whose GET /whoami the console shows (for `revocast dev`, the
// demo service). Until it is set, /v1/console/whoami answers 404.
func (c *Console) SetDemoURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("console: demo URL %q: want http(s)://host:port", raw)
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.URL.Path = "/whoami"
			pr.Out.URL.RawQuery = ""
			pr.Out.Header.Del("Authorization") // the page has no token to send: cookies only
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("X-Request-Id") // the console's own id (forwarded) is already answered
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			c.cfg.Logger.Warn("console: demo service unreachable", "err", err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway", "message": "the demo service does not answer"})
		},
	}
	c.demo.Store(p)
	base := u.String()
	c.demoURL.Store(&base)
	return nil
}

// Close ends every event stream and stops relaying. It is idempotent.
func (c *Console) Close() error {
	c.once.Do(func() {
		close(c.closed)
		if c.sub != nil {
			_ = c.sub.Unsubscribe()
		}
	})
	return nil
}

// ServeHTTP serves the console and, for every other path, the API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		c.files.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/console/") && len(r.URL.Path) > len("/console/") && r.Method == http.MethodGet:
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/console")
		c.files.ServeHTTP(w, r2)
	case r.URL.Path == "/v1/console/whoami" && r.Method == http.MethodGet:
		p := c.demo.Load()
		if p == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no demo service configured"})
			return
		}
		if id := w.Header().Get("X-Request-Id"); id != "" {
			r.Header.Set("X-Request-Id", id) // one id in both services' logs
		}
		p.ServeHTTP(w, r)
	case r.URL.Path == "/v1/events" && r.Method == http.MethodGet:
		c.serveEvents(w, r)
	case r.Header.Get("X-Revocast-Probe") != "" && c.demo.Load() != nil && c.demoURL.Load() != nil &&
		(r.Method == http.MethodPost && (r.URL.Path == "/v1/logout" || r.URL.Path == "/v1/logout-all") ||
			r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/sessions/")):
		c.probed(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/login":
		c.login(w, r)
	case r.URL.Path == "/" || r.URL.Path == "/v1/events" || r.URL.Path == "/v1/console/whoami":
		w.Header().Set("Allow", "GET, HEAD")
		c.cfg.Issuer.WriteError(w, r, issuer.ErrMethod)
	default:
		c.cfg.API.ServeHTTP(w, r)
	}
}

// login serves a login and remembers whose the new session is, so the session's revocation can be
// shown to its owner even after the session is deleted.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{header: http.Header{}}
	c.cfg.API.ServeHTTP(rec, r)
	if rec.status == http.StatusOK {
		var out struct {
			SessionID string `json:"session_id"`
		}
		if json.Unmarshal(rec.body, &out) == nil && out.SessionID != "" {
			if s, err := c.cfg.Sessions.Get(r.Context(), out.SessionID); err == nil {
				c.remember(s.ID, s.Subject)
			}
		}
	}
	rec.copyTo(w)
}

// probed serves a logout (or session deletion) the page asked to time: when it succeeds and the
// caller's own access token was revoked by it, the console presents that token to the demo
// service every millisecond until the service rejects it, and answers the time from the request's
// arrival to that first rejection in X-Revocast-Rejected-After-Ms. The token never leaves the
// server side.
func (c *Console) probed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var token string
	for _, name := range []string{subscriber.AccessCookie, subscriber.InsecureAccessCookie} {
		if ck, err := r.Cookie(name); err == nil && ck.Value != "" {
			token = ck.Value
			break
		}
	}
	if r.Method == http.MethodDelete {
		// Only the deletion of the caller's own session revokes the token it holds.
		if claims, err := c.cfg.Issuer.Caller(r); err != nil || r.URL.Path != "/v1/sessions/"+claims.SessionID {
			c.cfg.API.ServeHTTP(w, r)
			return
		}
	}
	rec := &recorder{header: http.Header{}}
	c.cfg.API.ServeHTTP(rec, r)
	if rec.status == http.StatusNoContent && token != "" {
		if d, ok := c.probe(r.Context(), token, start); ok {
			rec.header.Set("X-Revocast-Rejected-After-Ms", fmt.Sprintf("%.1f", float64(d.Microseconds())/1000))
		}
	}
	rec.copyTo(w)
}

// probe asks the demo service about token every millisecond, for at most 5 s, until it is
// rejected with 401, and returns how long after start that was. A token the deletion did not
// revoke (another session's) is never rejected: ok is false.
func (c *Console) probe(ctx context.Context, token string, start time.Time) (time.Duration, bool) {
	u := *c.demoURL.Load()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/whoami", nil)
		if err != nil {
			return 0, false
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := probeClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return time.Since(start), true
			}
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(time.Millisecond):
		}
	}
}

var probeClient = &http.Client{Timeout: time.Second}

// recorder captures a small API answer so a header can be added after it.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) copyTo(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}

// onEvent fans a published revocation out to the connected feeds. A feed that cannot keep up
// loses the event (its page reloads the session list on every event it does get).
func (c *Console) onEvent(m *nats.Msg) {
	r, err := events.DecodeRevocation(m.Data)
	if err != nil {
		c.invalid.Add(1)
		return
	}
	r.ID = strings.Clone(r.ID) // the decoder may alias the message buffer
	r.Reason, r.Origin = strings.Clone(r.Reason), strings.Clone(r.Origin)
	r.Sig = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	for f := range c.feeds {
		select {
		case f.ch <- r:
		default:
		}
	}
}

// serveEvents streams revocations to an authenticated caller until it goes away or the console
// closes.
func (c *Console) serveEvents(w http.ResponseWriter, r *http.Request) {
	claims, err := c.cfg.Issuer.Caller(r)
	if err != nil {
		c.cfg.Issuer.WriteError(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error", "message": "streaming unsupported"})
		return
	}
	f := &feed{claims: claims, admin: slices.Contains(claims.Roles, "admin"), ch: make(chan events.Revocation, 256)}
	c.mu.Lock()
	c.feeds[f] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.feeds, f)
		c.mu.Unlock()
	}()
	// The stream may outlive the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\nevent: hello\ndata: {\"sub\":%q,\"admin\":%t}\n\n", claims.Subject, f.admin)
	flusher.Flush()

	sessions := c.sessionsOf(r.Context(), claims.Subject)
	refresh := time.NewTicker(2 * time.Second)
	defer refresh.Stop()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.closed:
			return
		case <-refresh.C:
			sessions = c.sessionsOf(r.Context(), claims.Subject)
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		case rev := <-f.ch:
			own := rev.Kind == events.KindAll ||
				rev.Kind == events.KindSubject && rev.ID == claims.Subject ||
				rev.Kind == events.KindSession && (sessions[rev.ID] || c.owner(rev.ID) == claims.Subject)
			if !own && rev.Kind == events.KindSession {
				sessions = c.sessionsOf(r.Context(), claims.Subject) // a session opened since
				own = sessions[rev.ID]
			}
			if !own && !f.admin {
				continue
			}
			b, _ := json.Marshal(feedEvent{
				Seq: rev.Seq, Kind: rev.Kind.String(), ID: rev.ID, Reason: rev.Reason,
				RevokedAt: rev.RevokedAt, Relayed: time.Now(),
				Own: own, Current: rev.Kind == events.KindSession && rev.ID == claims.SessionID,
			})
			fmt.Fprintf(w, "event: revocation\ndata: %s\n\n", b)
			flusher.Flush()
		}
	}
}

// feedEvent is one revocation as the page receives it.
type feedEvent struct {
	Seq       uint64    `json:"seq"`
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	Reason    string    `json:"reason"`
	RevokedAt time.Time `json:"revoked_at"`
	Relayed   time.Time `json:"relayed_at"`
	Own       bool      `json:"own"`     // the caller's session or subject, or kind all
	Current   bool      `json:"current"` // the session of this very page
}

// sessionsOf returns the ids of sub's live sessions (and, on a store error, none).
func (c *Console) sessionsOf(ctx context.Context, sub string) map[string]bool {
	list, err := c.cfg.Sessions.ListByUser(ctx, sub, time.Now())
	if err != nil {
		c.cfg.Logger.Warn("console: list sessions", "err", err)
		return map[string]bool{}
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s.ID] = true
		c.remember(s.ID, sub)
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
