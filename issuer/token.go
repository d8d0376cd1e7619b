package issuer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revocast/revocast/subscriber"
)

// Precision is the precision of iat and of the not_before of the subject revocations the issuer
// makes (logout-all): a microsecond, as revoker.Precision. The issuer writes times as fractional
// NumericDates with six decimals by its own marshalling (numericDate) rather than through
// golang-jwt's package-global TimePrecision, which a library must not change.
const Precision = time.Microsecond

// issuedAt truncates t to Precision: the iat of a token minted at t.
func issuedAt(t time.Time) time.Time { return t.Truncate(Precision) }

// ceilPrecision rounds t up to Precision (an explicit not_before of an admin revocation).
func ceilPrecision(t time.Time) time.Time {
	f := t.Truncate(Precision)
	if f.Equal(t) {
		return f
	}
	return f.Add(Precision)
}

// notBeforeAt is the not_before of a subject revocation made at t: one Precision step after the iat
// of a token minted at t, so every token minted up to t (iat <= issuedAt(t)) has iat < not_before,
// and a token minted a microsecond or more later has iat >= not_before.
func notBeforeAt(t time.Time) time.Time { return issuedAt(t).Add(Precision) }

// numericDate is a JWT NumericDate (RFC 7519) written with microseconds: "1700000000.123456", or
// an integer when there is no fraction.
type numericDate struct{ time.Time }

// MarshalJSON writes seconds since the epoch with up to six decimals.
func (d numericDate) MarshalJSON() ([]byte, error) {
	us := d.UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	b := strconv.AppendInt(nil, sec, 10)
	if frac != 0 {
		f := strconv.AppendInt(nil, frac+1e6, 10) // "1xxxxxx": keeps the leading zeros
		b = append(b, '.')
		b = append(b, strings.TrimRight(string(f[1:]), "0")...)
	}
	return b, nil
}

// UnmarshalJSON reads a NumericDate exactly to the microsecond: a decimal fraction is read digit by
// digit and rounded to the nearest microsecond; other number forms go through float64.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	s := string(b)
	t, err := parseNumericDate(s)
	if err != nil {
		return err
	}
	d.Time = t
	return nil
}

var errNumericDate = errors.New("issuer: invalid NumericDate")

func parseNumericDate(s string) (time.Time, error) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if sec, err := strconv.ParseInt(intPart, 10, 64); err == nil && (!hasFrac || allDigits(frac)) && sec >= 0 && sec < 1<<40 {
		var us int64
		for i := 0; i < 7 && i < len(frac); i++ {
			digit := int64(frac[i] - '0')
			if i < 6 {
				us = us*10 + digit
			} else if digit >= 5 {
				us++
			}
		}
		for i := len(frac); i < 6; i++ {
			us *= 10
		}
		return time.UnixMicro(sec*1e6 + us).UTC(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f >= 1<<40 {
		return time.Time{}, errNumericDate
	}
	return time.UnixMicro(int64(math.Round(f * 1e6))).UTC(), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// accessClaims are the claims of an access token.
type accessClaims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  string      `json:"aud"`
	ExpiresAt numericDate `json:"exp"`
	IssuedAt  numericDate `json:"iat"`
	NotBefore numericDate `json:"nbf"`
	ID        string      `json:"jti"`
	SessionID string      `json:"sid"`
	Name      string      `json:"name,omitempty"`
	Email     string      `json:"email,omitempty"`
	Roles     []string    `json:"roles"`
}

func jwtDate(d numericDate) (*jwt.NumericDate, error) {
	if d.IsZero() {
		return nil, nil
	}
	return &jwt.NumericDate{Time: d.Time}, nil
}

// The jwt.Claims methods, for golang-jwt's validator.
func (c *accessClaims) GetExpirationTime() (*jwt.NumericDate, error) { return jwtDate(c.ExpiresAt) }
func (c *accessClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return jwtDate(c.IssuedAt) }
func (c *accessClaims) GetNotBefore() (*jwt.NumericDate, error)      { return jwtDate(c.NotBefore) }
func (c *accessClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *accessClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *accessClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// subscriberClaims converts c to the claims type the services' middleware uses.
func (c *accessClaims) subscriberClaims() *subscriber.Claims {
	return &subscriber.Claims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: []string{c.Audience},
		ExpiresAt: c.ExpiresAt.Time, NotBefore: c.NotBefore.Time, IssuedAt: c.IssuedAt.Time,
		ID: c.ID, SessionID: c.SessionID, Name: c.Name, Email: c.Email, Roles: c.Roles,
	}
}

func (c *accessClaims) hasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error()) // never happens (Go 1.24+ crypto/rand does not fail)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRefreshToken returns a refresh token for session sid: "<sid>.<256 random bits, base64url>".
// The sid lets the issuer find the session; only a SHA-256 hash of the whole token is stored.
func newRefreshToken(sid string) string { return sid + "." + randomString(32) }

// refreshHash is the stored form of a refresh token: SHA-256, base64url.
func refreshHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// refreshSID returns the session id of a refresh token, or false if it is malformed.
func refreshSID(token string) (string, bool) {
	sid, secret, ok := strings.Cut(token, ".")
	if !ok || len(sid) != 22 || len(secret) != 43 || len(token) > 128 {
		return "", false
	}
	return sid, true
}

// mint signs an access token for u in session sid at now.
func (is *Issuer) mint(u *User, sid string, now time.Time) (string, *accessClaims, error) {
	k := is.keys.current()
	iat := issuedAt(now)
	c := &accessClaims{
		Issuer: is.cfg.Issuer, Subject: u.Username, Audience: is.cfg.Audience,
		ExpiresAt: numericDate{iat.Add(is.cfg.AccessTTL)}, IssuedAt: numericDate{iat}, NotBefore: numericDate{iat},
		ID: randomString(16), SessionID: sid, Name: u.Name, Email: u.Email, Roles: u.Roles,
	}
	if c.Roles == nil {
		c.Roles = []string{}
	}
	t := jwt.NewWithClaims(k.method, c)
	t.Header["typ"] = "at+jwt"
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.private)
	if err != nil {
		return "", nil, fmt.Errorf("issuer: sign: %w", err)
	}
	return s, c, nil
}

// verify checks an access token minted by this issuer (any key of KeysDir): signature, typ,
// iss, aud, exp, nbf and the claims revocast requires. It returns an error wrapping ErrInvalidToken.
func (is *Issuer) verify(token string) (*accessClaims, error) {
	c := &accessClaims{}
	_, err := is.parser.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
			return nil, errors.New("typ is not at+jwt")
		}
		kid, _ := t.Header["kid"].(string)
		k := is.keys.lookup(kid)
		if k == nil {
			return nil, errors.New("unknown kid")
		}
		if t.Method.Alg() != k.method.Alg() {
			return nil, errors.New("algorithm does not match the key")
		}
		return k.public, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.ID == "" || c.SessionID == "" || c.Subject == "" || c.IssuedAt.IsZero() {
		return nil, fmt.Errorf("%w: missing jti, sid, sub or iat", ErrInvalidToken)
	}
	return c, nil
}
