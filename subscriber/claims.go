package subscriber

import (
	"context"
	"time"
)

// Claims are the verified claims of an access token: the registered claims revocast requires plus
// the profile claims the issuer adds. A Verifier produces them; Check decides revocation from ID,
// SessionID, Subject and IssuedAt.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub
	Audience  []string  // aud
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf (zero when absent)
	IssuedAt  time.Time // iat, with sub-second precision when the issuer gives it
	ID        string    // jti
	SessionID string    // sid
	Name      string    // name
	Email     string    // email
	Roles     []string  // roles
}

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c. The middleware calls it; tests and custom
// authentication code may too.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims the middleware stored in ctx, or nil when there are none.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}
