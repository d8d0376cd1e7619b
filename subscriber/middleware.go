package subscriber

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
)

// RevocationChecker is what an Authenticator needs from a *Subscriber.
type RevocationChecker interface {
	Check(*Claims) error
	Fresh() bool
}

// Default access-cookie names, as the issuer sets them: with the __Host- prefix over https, and
// without it for plain-http development (issuer Config.InsecureCookies).
const (
	AccessCookie         = "__Host-revocast_at"
	InsecureAccessCookie = "revocast_at"
)

// Authenticator verifies the access token of each request and checks it for revocation. Build it
// with NewAuthenticator; it is safe for concurrent use.
type Authenticator struct {
	v          *Verifier
	rc         RevocationChecker
	failClosed bool
	cookies    []string
	logger     *slog.Logger
	rejected   [numReasons]atomic.Uint64
	checked    atomic.Uint64

	refreshURL    string // WithSilentRefresh
	refreshClient *http.Client
}

// AuthOption configures an Authenticator.
type AuthOption func(*Authenticator)

// WithFailClosed answers 503 (gRPC Unavailable) while the revocation state is stale instead of
// accepting tokens that might have been revoked meanwhile. Defaults to fail-open.
func WithFailClosed() AuthOption { return func(a *Authenticator) { a.failClosed = true } }

// WithAccessCookies sets the cookie names the access token is read from when there is no
// Authorization header. Defaults to AccessCookie and InsecureAccessCookie.
func WithAccessCookies(names ...string) AuthOption {
	return func(a *Authenticator) { a.cookies = names }
}

// WithAuthLogger logs each rejection (reason and remote address, never the token). Defaults to
// discarding.
func WithAuthLogger(l *slog.Logger) AuthOption { return func(a *Authenticator) { a.logger = l } }

// NewAuthenticator returns an Authenticator verifying with v and checking revocation with rc
// (normally a *Subscriber).
func NewAuthenticator(v *Verifier, rc RevocationChecker, opts ...AuthOption) *Authenticator {
	a := &Authenticator{v: v, rc: rc, cookies: []string{AccessCookie, InsecureAccessCookie},
		logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Rejection reasons, the keys of AuthStats.Rejected.
const (
	reasonMissing = iota
	reasonTooLarge
	reasonMalformed
	reasonHeader
	reasonUnknownKey
	reasonInvalid
	reasonClaims
	reasonRevoked
	reasonStale
	numReasons
)

var reasonNames = [numReasons]string{"missing", "too_large", "malformed", "header", "unknown_key", "invalid", "claims", "revoked", "stale"}

// Authenticate verifies token and checks it for revocation, returning its claims. Errors wrap the
// Verify errors, ErrRevoked, ErrIncomplete or ErrStale (fail-closed only).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Claims, error) {
	a.checked.Add(1)
	c, err := a.v.Verify(ctx, token)
	if err != nil {
		a.count(err)
		return nil, err
	}
	if a.failClosed && !a.rc.Fresh() {
		a.rejected[reasonStale].Add(1)
		return nil, ErrStale
	}
	if err := a.rc.Check(c); err != nil {
		a.count(err)
		return nil, err
	}
	return c, nil
}

func (a *Authenticator) count(err error) {
	r := reasonInvalid
	switch {
	case errors.Is(err, ErrTokenMissing):
		r = reasonMissing
	case errors.Is(err, ErrTokenTooLarge):
		r = reasonTooLarge
	case errors.Is(err, ErrTokenMalformed):
		r = reasonMalformed
	case errors.Is(err, ErrTokenHeader):
		r = reasonHeader
	case errors.Is(err, ErrUnknownKey):
		r = reasonUnknownKey
	case errors.Is(err, ErrClaimMissing), errors.Is(err, ErrIncomplete):
		r = reasonClaims
	case errors.Is(err, ErrRevoked):
		r = reasonRevoked
	}
	a.rejected[r].Add(1)
}

// AuthStats counts the tokens an Authenticator checked and the rejections by reason.
type AuthStats struct {
	// Checked counts tokens checked (Authenticate calls, and requests without a token).
	Checked uint64
	// Rejected counts rejections by reason: missing, too_large, malformed, header, unknown_key,
	// invalid, claims, revoked, stale.
	Rejected map[string]uint64
}

// Stats returns the counters. Safe for concurrent use.
func (a *Authenticator) Stats() AuthStats {
	s := AuthStats{Checked: a.checked.Load(), Rejected: map[string]uint64{}}
	for i, n := range reasonNames {
		s.Rejected[n] = a.rejected[i].Load()
	}
	return s
}

// Token returns the access token of r: the Authorization Bearer credentials, else the access
// cookie, else "".
func (a *Authenticator) Token(r *http.Request) string {
	tok, _ := a.token(r)
	return tok
}

// token returns the access token of r and whether it came from a cookie.
func (a *Authenticator) token(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(cred), false
		}
		return "", false
	}
	for _, name := range a.cookies {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, true
		}
	}
	return "", false
}

// Middleware authenticates every request before next: the claims are in the request context
// (ClaimsFrom). Failures, revoked tokens included, are answered 401 with a WWW-Authenticate header
// per RFC 6750 and a JSON body; a stale subscriber with WithFailClosed is answered 503 with
// Retry-After.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, fromCookie := a.token(r)
		if token == "" && a.refreshURL != "" && a.hasRefreshCookie(r) {
			// The browser dropped the access cookie when it expired (its Max-Age is the token's
			// lifetime): refresh with the refresh cookie.
			c, err := a.silentRefresh(w, r) // counted as a check by the Authenticate inside
			if err == nil {
				next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
				return
			}
			a.logger.Info("silent refresh failed", "err", err.Error(), "remote", r.RemoteAddr)
		}
		if token == "" {
			a.checked.Add(1)
			a.rejected[reasonMissing].Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="revocast"`)
			writeAuthError(w, http.StatusUnauthorized, "invalid_token", "no access token")
			return
		}
		c, err := a.Authenticate(r.Context(), token)
		if err != nil && fromCookie && a.refreshURL != "" && errors.Is(err, ErrTokenInvalid) && Describe(err) == "token expired" {
			if rc, rerr := a.silentRefresh(w, r); rerr == nil {
				c, err = rc, nil
			} else {
				a.logger.Info("silent refresh failed", "err", rerr.Error(), "remote", r.RemoteAddr)
			}
		}
		if err != nil {
			if errors.Is(err, ErrStale) {
				w.Header().Set("Retry-After", "1")
				writeAuthError(w, http.StatusServiceUnavailable, "unavailable", "revocation state is stale")
				return
			}
			desc := Describe(err)
			a.logger.Info("request rejected", "reason", desc, "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="revocast", error="invalid_token", error_description="`+desc+`"`)
			writeAuthError(w, http.StatusUnauthorized, "invalid_token", desc)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// Describe returns a short fixed description of an authentication error, safe to show a client
// (it never contains the token).
func Describe(err error) string {
	var re *RevokedError
	switch {
	case errors.As(err, &re):
		return "token revoked (" + re.Kind.String() + ")"
	case errors.Is(err, ErrTokenMissing):
		return "no access token"
	case errors.Is(err, ErrTokenTooLarge):
		return "token too large"
	case errors.Is(err, ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, ErrTokenHeader):
		return "token header rejected"
	case errors.Is(err, ErrUnknownKey):
		return "unknown signing key"
	case errors.Is(err, ErrClaimMissing), errors.Is(err, ErrIncomplete):
		return "required claim missing"
	case errors.Is(err, ErrTokenInvalid):
		if _, detail, ok := strings.Cut(err.Error(), ErrTokenInvalid.Error()+": "); ok {
			return "token " + detail
		}
		return "token invalid"
	case errors.Is(err, ErrStale):
		return "revocation state is stale"
	}
	return "token rejected"
}

func writeAuthError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `","message":"` + msg + `"}`))
}
