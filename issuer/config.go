package issuer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/revocast/revocast/events"
)

// Defaults of Config, filled in by Config.withDefaults (the one place).
const (
	DefaultIssuer          = "revocast"
	DefaultAudience        = "revocast"
	DefaultAccessTTL       = 5 * time.Minute
	DefaultRefreshGrace    = 10 * time.Second
	DefaultSessionLifetime = 30 * 24 * time.Hour
	DefaultSessionIdle     = 7 * 24 * time.Hour
	DefaultAlgorithm       = "EdDSA"
	DefaultRefreshPath     = "/v1/"
	// MaxBodySize is the largest request body accepted (64 KiB); larger ones are answered 413.
	MaxBodySize = 64 << 10
)

// Revoker is what the issuer needs from revoker.Revoker: durably append a revocation and publish it,
// returning its sequence. A nil error must mean the revocation is durable.
type Revoker interface {
	Revoke(ctx context.Context, rev events.Revocation) (seq uint64, err error)
}

// Pinger is a dependency the readiness check (/readyz) pings: the session store (if it implements
// Pinger it is checked automatically), NATS, the revocation store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

// Ping calls f(ctx).
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Rate is a token bucket: Burst attempts at once, then one more every Interval. The zero Rate takes
// the default of the field it is in; a negative Burst turns the limit off.
type Rate struct {
	Burst    int
	Interval time.Duration
}

// RateLimits are the login rate limits, kept in memory per issuer instance.
type RateLimits struct {
	// PerUser limits login attempts per username (any outcome). Defaults to a burst of 10, then one
	// per 6s (10 a minute).
	PerUser Rate
	// PerIP limits login attempts per client address (Config.ClientIP). Defaults to a burst of 30,
	// then one per 2s.
	PerIP Rate
	// MaxKeys bounds each limiter's map; past it, full buckets are evicted first, then arbitrary
	// ones. Defaults to 100,000.
	MaxKeys int
}

// Config configures an Issuer. The zero value of every field but KeysDir, Users, Sessions and
// Revoker takes the default stated; New returns ErrConfig for an invalid value.
type Config struct {
	// Issuer is the iss claim. Defaults to "revocast".
	Issuer string
	// Audience is the aud claim. Defaults to "revocast".
	Audience string
	// AccessTTL is the lifetime of access tokens. Defaults to 5m. Tell the revoker the same value
	// (revoker.WithMaxTokenLifetime) so session revocations outlive the tokens they match.
	AccessTTL time.Duration
	// RefreshGrace is how long after a rotation the immediate predecessor of the current refresh
	// token is still accepted (two tabs refreshing at once). Defaults to 10s; negative means 0.
	RefreshGrace time.Duration
	// SessionLifetime is the absolute lifetime of a session from login. Defaults to 30 days.
	SessionLifetime time.Duration
	// SessionIdle ends a session not refreshed for that long. Defaults to 7 days.
	SessionIdle time.Duration

	// KeysDir holds the signing keys, one PKCS#8 PEM private key per file named <kid>.pem. Required.
	// It is created (0700) if missing, and a key is generated in it if it holds none.
	KeysDir string
	// Algorithm is the algorithm of a generated key: "EdDSA" (Ed25519, the default), "ES256" (P-256)
	// or "RS256" (RSA 2048). Keys found in KeysDir sign with the algorithm of their type.
	Algorithm string

	// Users is the path of the users file (see the package doc). Required. ReloadUsers re-reads it.
	Users string
	// PasswordHash are the parameters of the dummy hash compared against for an unknown user, so that
	// a login for an unknown user takes about as long as for a known one hashed with the same
	// parameters. Defaults to DefaultHashParams (argon2id m=19 MiB, t=2, p=1).
	PasswordHash HashParams
	// MaxConcurrentHashes bounds concurrent password verifications (each argon2id one takes Memory).
	// Defaults to GOMAXPROCS.
	MaxConcurrentHashes int

	// Sessions stores the sessions. Required.
	Sessions SessionStore
	// Revoker appends and broadcasts revocations. Required.
	Revoker Revoker
	// Ready lists further dependencies /readyz pings (NATS, the revocation store). Sessions is
	// pinged too when it implements Pinger.
	Ready []Pinger

	// Clock returns the current time. Defaults to time.Now.
	Clock func() time.Time
	// Logger receives the audit lines (login, logout, logout-all, refresh reuse, admin revocations)
	// and internal errors. Defaults to discarding.
	Logger *slog.Logger

	// InsecureCookies drops the Secure attribute and the __Host-/__Secure- cookie name prefixes, for
	// plain-http development only.
	InsecureCookies bool
	// RefreshCookiePath is the Path of the refresh cookie. Defaults to "/v1/" (the refresh and logout
	// endpoints). Set "/" when SilentRefresh protects pages outside /v1/ on the same host.
	RefreshCookiePath string
	// TrustedOrigins are origins (scheme://host[:port]) allowed to make cross-origin POST and DELETE
	// requests despite the CSRF protection (http.CrossOriginProtection). Defaults to none.
	TrustedOrigins []string

	// LoginRate are the login rate limits.
	LoginRate RateLimits
	// ClientIP returns the client address used for rate limiting and the session listing. Defaults
	// to the host of r.RemoteAddr (set it when behind a proxy that you trust).
	ClientIP func(r *http.Request) string
}

// withDefaults returns c with every default filled in and checks it.
func (c Config) withDefaults() (Config, error) {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshGrace == 0 {
		c.RefreshGrace = DefaultRefreshGrace
	}
	if c.RefreshGrace < 0 {
		c.RefreshGrace = 0
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if c.PasswordHash == (HashParams{}) {
		c.PasswordHash = DefaultHashParams
	}
	if c.MaxConcurrentHashes <= 0 {
		c.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RefreshCookiePath == "" {
		c.RefreshCookiePath = DefaultRefreshPath
	}
	if c.LoginRate.PerUser == (Rate{}) {
		c.LoginRate.PerUser = Rate{Burst: 10, Interval: 6 * time.Second}
	}
	if c.LoginRate.PerIP == (Rate{}) {
		c.LoginRate.PerIP = Rate{Burst: 30, Interval: 2 * time.Second}
	}
	if c.LoginRate.MaxKeys <= 0 {
		c.LoginRate.MaxKeys = 100_000
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteHost
	}
	switch {
	case c.AccessTTL < time.Second:
		return c, fmt.Errorf("%w: AccessTTL %v is below 1s", ErrConfig, c.AccessTTL)
	case c.SessionLifetime < time.Second || c.SessionIdle < time.Second:
		return c, fmt.Errorf("%w: SessionLifetime and SessionIdle must be at least 1s", ErrConfig)
	case c.KeysDir == "":
		return c, fmt.Errorf("%w: KeysDir is required", ErrConfig)
	case c.Users == "":
		return c, fmt.Errorf("%w: Users is required", ErrConfig)
	case c.Sessions == nil:
		return c, fmt.Errorf("%w: Sessions is required", ErrConfig)
	case c.Revoker == nil:
		return c, fmt.Errorf("%w: Revoker is required", ErrConfig)
	}
	for _, r := range []Rate{c.LoginRate.PerUser, c.LoginRate.PerIP} {
		if r.Burst >= 0 && (r.Burst == 0 || r.Interval <= 0) {
			return c, fmt.Errorf("%w: a login rate needs Burst > 0 and Interval > 0 (or Burst < 0 for no limit)", ErrConfig)
		}
	}
	if _, err := signingMethodFor(c.Algorithm); err != nil {
		return c, err
	}
	return c, nil
}

// remoteHost is the default ClientIP: the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
