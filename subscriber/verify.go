package subscriber

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revocast/revocast/stats"
)

// Verifier checks access tokens strictly: the signature against a key of the issuer's JWKS (or
// static keys), with the algorithm the key's type allows and no other; header typ "at+jwt"; no
// crit, jku, x5u, jwk or x5c header; exp, iat, jti, sid and sub present; iss and aud as configured;
// times within the leeway; and the size limit before any parsing. It is safe for concurrent use.
type Verifier struct {
	o      verifierOptions
	keys   atomic.Pointer[map[string]verifyKey]
	parser *jwt.Parser

	fetchMu   sync.Mutex
	lastFetch time.Time // of a fetch on an unknown kid (rate limited)
	skipped   atomic.Uint64

	cacheHits, fetches, fetchErrors atomic.Uint64
	latency                         *stats.Histogram // signature-checked verifications

	cache *verifiedCache

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierOptions) error

type verifierOptions struct {
	jwksURL        string
	static         map[string]crypto.PublicKey
	issuer         string
	audience       string
	leeway         time.Duration
	maxSize        int
	refresh        time.Duration
	unknownKidWait time.Duration
	cacheSize      int
	clock          func() time.Time
	client         *http.Client
	logger         *slog.Logger
}

// WithJWKS verifies against the keys published at url (the issuer's /.well-known/jwks.json),
// fetched by NewVerifier, refreshed every 5 minutes by Run, and re-fetched on a token with an
// unknown kid at most once per 30 seconds.
func WithJWKS(url string) VerifierOption {
	return func(o *verifierOptions) error { o.jwksURL = url; return nil }
}

// WithKeys verifies against fixed public keys by kid (Ed25519, ECDSA P-256 or RSA ≥ 2048 bits).
func WithKeys(keys map[string]crypto.PublicKey) VerifierOption {
	return func(o *verifierOptions) error { o.static = keys; return nil }
}

// WithIssuer requires the iss claim to equal iss. Defaults to "revocast"; "" turns the check off.
func WithIssuer(iss string) VerifierOption {
	return func(o *verifierOptions) error { o.issuer = iss; return nil }
}

// WithAudience requires aud to contain aud. Defaults to "revocast"; "" turns the check off.
func WithAudience(aud string) VerifierOption {
	return func(o *verifierOptions) error { o.audience = aud; return nil }
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat. Defaults to 30s.
func WithLeeway(d time.Duration) VerifierOption {
	return func(o *verifierOptions) error {
		if d < 0 {
			return fmt.Errorf("%w: negative leeway", ErrOption)
		}
		o.leeway = d
		return nil
	}
}

// WithMaxTokenSize sets the largest token accepted, checked before any parsing. Defaults to 8 KiB.
func WithMaxTokenSize(n int) VerifierOption {
	return func(o *verifierOptions) error {
		if n <= 0 {
			return fmt.Errorf("%w: max token size must be positive", ErrOption)
		}
		o.maxSize = n
		return nil
	}
}

// WithVerifiedCache remembers up to size verified tokens (keyed by a 128-bit keyed hash of the
// token, never the token itself) until their exp, so repeated requests with the same token skip the
// signature check. The revocation check still runs on every request, so a revocation takes effect
// at once. Defaults to off.
func WithVerifiedCache(size int) VerifierOption {
	return func(o *verifierOptions) error {
		if size < 0 {
			return fmt.Errorf("%w: negative cache size", ErrOption)
		}
		o.cacheSize = size
		return nil
	}
}

// WithVerifierClock sets the clock for exp, nbf and iat checks and the JWKS rate limit. Defaults to
// time.Now.
func WithVerifierClock(now func() time.Time) VerifierOption {
	return func(o *verifierOptions) error { o.clock = now; return nil }
}

// WithHTTPClient sets the client that fetches the JWKS. Defaults to one with a 5s timeout.
func WithHTTPClient(c *http.Client) VerifierOption {
	return func(o *verifierOptions) error { o.client = c; return nil }
}

// WithVerifierLogger sets the logger for JWKS refresh failures. Defaults to discarding.
func WithVerifierLogger(l *slog.Logger) VerifierOption {
	return func(o *verifierOptions) error { o.logger = l; return nil }
}

// NewVerifier returns a Verifier. With WithJWKS it fetches the keys once now (ctx bounds that
// fetch) and fails if it cannot; call Run to keep them fresh.
func NewVerifier(ctx context.Context, opts ...VerifierOption) (*Verifier, error) {
	o := verifierOptions{
		issuer: "revocast", audience: "revocast", leeway: 30 * time.Second, maxSize: 8 << 10,
		refresh: 5 * time.Minute, unknownKidWait: 30 * time.Second, clock: time.Now,
		client: &http.Client{Timeout: 5 * time.Second}, logger: slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if (o.jwksURL == "") == (o.static == nil) {
		return nil, fmt.Errorf("%w: give exactly one of WithJWKS and WithKeys", ErrOption)
	}
	v := &Verifier{o: o, stop: make(chan struct{}), done: make(chan struct{}), latency: stats.NewHistogram()}
	popts := []jwt.ParserOption{
		jwt.WithLeeway(o.leeway), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(o.clock), jwt.WithValidMethods([]string{"EdDSA", "ES256", "RS256"}),
	}
	if o.issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.issuer))
	}
	if o.audience != "" {
		popts = append(popts, jwt.WithAudience(o.audience))
	}
	v.parser = jwt.NewParser(popts...)
	if o.cacheSize > 0 {
		v.cache = newVerifiedCache(o.cacheSize)
	}
	if o.static != nil {
		keys := map[string]verifyKey{}
		for kid, pub := range o.static {
			alg, err := algFor(pub)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", kid, err)
			}
			keys[kid] = verifyKey{pub: pub, alg: alg}
		}
		v.keys.Store(&keys)
		return v, nil
	}
	if err := v.fetch(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Verifier) fetch(ctx context.Context) error {
	v.fetches.Add(1)
	keys, skipped, err := fetchJWKS(ctx, v.o.client, v.o.jwksURL)
	if err != nil {
		v.fetchErrors.Add(1)
		return err
	}
	v.skipped.Add(uint64(skipped))
	v.keys.Store(&keys)
	return nil
}

// Run refreshes the JWKS every 5 minutes until ctx ends or Close is called. It returns nil at once
// for static keys.
func (v *Verifier) Run(ctx context.Context) error {
	if v.o.jwksURL == "" {
		return nil
	}
	t := time.NewTicker(v.o.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.stop:
			return nil
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := v.fetch(fctx); err != nil {
				v.o.logger.Warn("JWKS refresh failed; keeping the keys we have", "err", err)
			}
			cancel()
		}
	}
}

// Close stops Run. It is idempotent.
func (v *Verifier) Close() error {
	v.once.Do(func() { close(v.stop) })
	return nil
}

// SkippedKeys counts JWKS entries skipped as unusable (junk, unsupported, not for signatures).
func (v *Verifier) SkippedKeys() uint64 { return v.skipped.Load() }

// VerifierStats are a Verifier's counters since NewVerifier.
type VerifierStats struct {
	// CacheHits counts tokens answered from the verified cache (WithVerifiedCache).
	CacheHits uint64
	// JWKSFetches counts JWKS downloads (start, refreshes, unknown kids); JWKSFetchErrors those
	// that failed; SkippedKeys the JWKS entries skipped as unusable.
	JWKSFetches, JWKSFetchErrors, SkippedKeys uint64
	// Latency is the distribution of the time to verify a token that needed its signature
	// checked (cache hits and tokens refused before the signature are not in it).
	Latency stats.HistogramSnapshot
}

// Stats returns the Verifier's counters. Safe for concurrent use.
func (v *Verifier) Stats() VerifierStats {
	return VerifierStats{
		CacheHits:       v.cacheHits.Load(),
		JWKSFetches:     v.fetches.Load(),
		JWKSFetchErrors: v.fetchErrors.Load(),
		SkippedKeys:     v.skipped.Load(),
		Latency:         v.latency.Snapshot(),
	}
}

// key returns the key for kid, fetching the JWKS again on an unknown kid at most once per 30s.
func (v *Verifier) key(ctx context.Context, kid string) (verifyKey, bool) {
	if k, ok := (*v.keys.Load())[kid]; ok {
		return k, true
	}
	if v.o.jwksURL == "" {
		return verifyKey{}, false
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if k, ok := (*v.keys.Load())[kid]; ok { // fetched while we waited
		return k, true
	}
	now := v.o.clock()
	if !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.o.unknownKidWait {
		return verifyKey{}, false
	}
	v.lastFetch = now
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := v.fetch(fctx); err != nil {
		v.o.logger.Warn("JWKS fetch for an unknown kid failed", "err", err)
		return verifyKey{}, false
	}
	k, ok := (*v.keys.Load())[kid]
	return k, ok
}

// tokenHeader is the JOSE header; the fields revocast refuses are decoded only to be refused.
type tokenHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	Jku  json.RawMessage `json:"jku"`
	X5u  json.RawMessage `json:"x5u"`
	Jwk  json.RawMessage `json:"jwk"`
	X5c  json.RawMessage `json:"x5c"`
}

// Verify checks token and returns its claims. Errors wrap ErrTokenTooLarge, ErrTokenMalformed,
// ErrTokenHeader, ErrUnknownKey, ErrTokenInvalid or ErrClaimMissing; they never contain the token.
// The returned Claims may be shared with other callers (the verified cache): treat them as
// read-only.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.o.maxSize {
		return nil, ErrTokenTooLarge
	}
	if token == "" {
		return nil, ErrTokenMissing
	}
	var ck cacheKey
	if v.cache != nil {
		ck = v.cache.key(token)
		if c, ok := v.cache.get(ck, v.o.clock()); ok {
			v.cacheHits.Add(1)
			return c, nil
		}
	}
	dot := strings.IndexByte(token, '.')
	if dot < 0 || strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrTokenMalformed)
	}
	hb, err := base64.RawURLEncoding.DecodeString(token[:dot])
	if err != nil || len(hb) > 1024 {
		return nil, fmt.Errorf("%w: header is not base64url JSON", ErrTokenMalformed)
	}
	var h tokenHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header is not JSON", ErrTokenMalformed)
	}
	switch {
	case h.Crit != nil || h.Jku != nil || h.X5u != nil || h.Jwk != nil || h.X5c != nil:
		return nil, fmt.Errorf("%w: crit, jku, x5u, jwk and x5c are not accepted", ErrTokenHeader)
	case h.Typ != "at+jwt" && h.Typ != "application/at+jwt":
		return nil, fmt.Errorf("%w: typ must be at+jwt", ErrTokenHeader)
	case h.Kid == "":
		return nil, fmt.Errorf("%w: no kid", ErrTokenHeader)
	}
	key, ok := v.key(ctx, h.Kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	if h.Alg != key.alg {
		return nil, fmt.Errorf("%w: alg does not match the key", ErrTokenHeader)
	}
	var tc tokenClaims
	start := time.Now()
	_, err = v.parser.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return key.pub, nil })
	v.latency.Observe(time.Since(start))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrTokenInvalid, jwtReason(err))
	}
	c, err := tc.claims()
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(ck, c)
	}
	return c, nil
}

// jwtReason maps golang-jwt's errors to fixed phrases.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "required claim missing"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	}
	return "rejected"
}

// tokenClaims decodes the claims with exact (sub-second) NumericDates: golang-jwt's own NumericDate
// truncates to its package-global precision, a second by default.
type tokenClaims struct {
	Iss   string           `json:"iss"`
	Sub   string           `json:"sub"`
	Aud   jwt.ClaimStrings `json:"aud"`
	Exp   *exactDate       `json:"exp"`
	Nbf   *exactDate       `json:"nbf"`
	Iat   *exactDate       `json:"iat"`
	Jti   string           `json:"jti"`
	Sid   string           `json:"sid"`
	Name  string           `json:"name"`
	Email string           `json:"email"`
	Roles []string         `json:"roles"`
}

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp.numeric(), nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.Nbf.numeric(), nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.Iat.numeric(), nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Sub, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Aud, nil }

func (c *tokenClaims) claims() (*Claims, error) {
	switch {
	case c.Exp == nil:
		return nil, fmt.Errorf("%w: exp", ErrClaimMissing)
	case c.Iat == nil:
		return nil, fmt.Errorf("%w: iat", ErrClaimMissing)
	case c.Jti == "":
		return nil, fmt.Errorf("%w: jti", ErrClaimMissing)
	case c.Sid == "":
		return nil, fmt.Errorf("%w: sid", ErrClaimMissing)
	case c.Sub == "":
		return nil, fmt.Errorf("%w: sub", ErrClaimMissing)
	}
	out := &Claims{Issuer: c.Iss, Subject: c.Sub, Audience: c.Aud, ExpiresAt: c.Exp.Time, IssuedAt: c.Iat.Time,
		ID: c.Jti, SessionID: c.Sid, Name: c.Name, Email: c.Email, Roles: c.Roles}
	if c.Nbf != nil {
		out.NotBefore = c.Nbf.Time
	}
	return out, nil
}

// exactDate is a NumericDate parsed from its decimal text without rounding through a float.
type exactDate struct{ time.Time }

func (d *exactDate) numeric() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &jwt.NumericDate{Time: d.Time}
}

// UnmarshalJSON parses seconds since the epoch with up to nine decimals.
func (d *exactDate) UnmarshalJSON(b []byte) error {
	s := string(b)
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n < 0 || n > 1<<40 || len(frac) > 9 {
		return fmt.Errorf("%w: bad NumericDate", ErrTokenMalformed)
	}
	var ns int64
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: bad NumericDate", ErrTokenMalformed)
		}
		ns = int64(f)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	d.Time = time.Unix(n, ns)
	return nil
}

// verifiedCache maps a keyed hash of a token to its verified claims until exp.
type verifiedCache struct {
	seeds [2]maphash.Seed
	size  int
	mu    sync.Mutex
	m     map[cacheKey]*Claims
}

type cacheKey [2]uint64

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, size: size, m: make(map[cacheKey]*Claims, size)}
}

func (c *verifiedCache) key(token string) cacheKey {
	return cacheKey{maphash.String(c.seeds[0], token), maphash.String(c.seeds[1], token)}
}

func (c *verifiedCache) get(k cacheKey, now time.Time) (*Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[k]
	if ok && !now.Before(cl.ExpiresAt) {
		delete(c.m, k)
		return nil, false
	}
	return cl, ok
}

func (c *verifiedCache) put(k cacheKey, cl *Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.size {
		for old := range c.m { // evict an arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cl
}
