package subscriber

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys is an issuer key pair for signing test tokens.
type testKeys struct {
	kid  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newTestKeys(t testing.TB, kid string) testKeys {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{kid: kid, priv: priv, pub: pub}
}

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)

func validClaims() map[string]any {
	return map[string]any{
		"iss": "revocast", "sub": "alice", "aud": "revocast", "jti": "jti-1", "sid": "sid-1",
		"iat": json.Number("1795867200.123456"), "nbf": json.Number("1795867200.123456"),
		"exp":  json.Number(fmt.Sprint(testNow.Add(5 * time.Minute).Unix())),
		"name": "Alice", "email": "alice@example.com", "roles": []string{"admin"},
	}
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signRaw signs header.claims with key k (EdDSA) and returns the compact token.
func signRaw(k ed25519.PrivateKey, header, claims any) string {
	in := seg(header) + "." + seg(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(k, []byte(in)))
}

func header(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
}

func testVerifier(t testing.TB, k testKeys, opts ...VerifierOption) *Verifier {
	v, err := NewVerifier(context.Background(), append([]VerifierOption{
		WithKeys(map[string]crypto.PublicKey{k.kid: k.pub}),
		WithVerifierClock(func() time.Time { return testNow }),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type fakeChecker struct {
	revoked map[string]bool
	stale   bool
}

func (f *fakeChecker) Check(c *Claims) error {
	if f.revoked[c.ID] {
		return revokedErrs[1]
	}
	return nil
}
func (f *fakeChecker) Fresh() bool { return !f.stale }

func TestVerifyValid(t *testing.T) {
	k := newTestKeys(t, "k1")
	v := testVerifier(t, k)
	c, err := v.Verify(context.Background(), signRaw(k.priv, header("k1"), validClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.ID != "jti-1" || c.SessionID != "sid-1" || c.Name != "Alice" || len(c.Roles) != 1 {
		t.Fatalf("claims %+v", c)
	}
	if want := time.Unix(1795867200, 123456000); !c.IssuedAt.Equal(want) {
		t.Fatalf("iat %v, want %v (sub-second precision kept)", c.IssuedAt, want)
	}
}

func TestHostileTokens(t *testing.T) {
	k := newTestKeys(t, "k1")
	other := newTestKeys(t, "k1") // same kid, a key the issuer never published
	v := testVerifier(t, k)
	a := NewAuthenticator(v, &fakeChecker{revoked: map[string]bool{"revoked-jti": true}})
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a hostile token reached the handler")
	}))

	pemPub := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(k.pub)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	hs := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(validClaims()))
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", "k1"
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func(alg string) string {
		return seg(map[string]any{"alg": alg, "typ": "at+jwt", "kid": "k1"}) + "." + seg(validClaims()) + "."
	}
	with := func(key string, val any) string {
		hd := header("k1")
		hd[key] = val
		return signRaw(k.priv, hd, validClaims())
	}
	without := func(claim string) string {
		c := validClaims()
		delete(c, claim)
		return signRaw(k.priv, header("k1"), c)
	}
	claim := func(name string, val any) string {
		c := validClaims()
		c[name] = val
		return signRaw(k.priv, header("k1"), c)
	}
	good := signRaw(k.priv, header("k1"), validClaims())
	parts := strings.Split(good, ".")
	tampered := func() string {
		c := validClaims()
		c["sub"] = "mallory"
		return parts[0] + "." + seg(c) + "." + parts[2]
	}()
	future := fmt.Sprint(testNow.Add(2 * time.Minute).Unix())
	past := fmt.Sprint(testNow.Add(-time.Minute).Unix())

	cases := []struct{ name, token string }{
		{"alg none", none("none")},
		{"alg None", none("None")},
		{"alg NONE", none("NONE")},
		{"alg nOnE", none("nOnE")},
		{"HS256 with the public key PEM", hs(pemPub)},
		{"HS256 with the raw public key", hs(k.pub)},
		{"tampered payload", tampered},
		{"unknown kid", signRaw(k.priv, header("k2"), validClaims())},
		{"kid path traversal", signRaw(k.priv, header("../../../../etc/passwd"), validClaims())},
		{"no kid", signRaw(k.priv, map[string]any{"alg": "EdDSA", "typ": "at+jwt"}, validClaims())},
		{"jku header", with("jku", "https://evil.example/jwks.json")},
		{"x5u header", with("x5u", "https://evil.example/cert.pem")},
		{"jwk header", with("jwk", map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(k.pub)})},
		{"x5c header", with("x5c", []string{"MIIB"})},
		{"crit header", with("crit", []string{"exp"})},
		{"jti missing", without("jti")},
		{"sid missing", without("sid")},
		{"exp missing", without("exp")},
		{"iat missing", without("iat")},
		{"sub missing", without("sub")},
		{"typ JWT", with("typ", "JWT")},
		{"typ missing", signRaw(k.priv, map[string]any{"alg": "EdDSA", "kid": "k1"}, validClaims())},
		{"expired beyond the leeway", claim("exp", json.Number(past))},
		{"nbf in the future beyond the leeway", claim("nbf", json.Number(future))},
		{"iat in the future beyond the leeway", claim("iat", json.Number(future))},
		{"wrong iss", claim("iss", "evil")},
		{"wrong aud", claim("aud", "another-service")},
		{"1 MB of dots", strings.Repeat(".", 1<<20)},
		{"64 KiB token", good[:len(good)-1] + strings.Repeat("A", 64<<10)},
		{"not base64url", "eyJ!!!.@@@@.####"},
		{"signed by a key not in the JWKS", signRaw(other.priv, header("k1"), validClaims())},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"two parts", parts[0] + "." + parts[1]},
		{"alg mismatch ES256 header", with("alg", "ES256")},
		{"revoked", signRaw(k.priv, header("k1"), func() map[string]any { c := validClaims(); c["jti"] = "revoked-jti"; return c }())},
		{"fractional exp garbage", claim("exp", json.Number("1e10"))},
	}
	if len(cases) < 25 {
		t.Fatal("the table must hold at least 25 hostile tokens")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			serve := func() *httptest.ResponseRecorder {
				r := httptest.NewRequest("GET", "/whoami", nil)
				r.Header.Set("Authorization", "Bearer "+tc.token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w
			}
			w := serve()
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			auth := w.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(auth, `Bearer realm="revocast", error="invalid_token", error_description="`) {
				t.Fatalf("WWW-Authenticate %q", auth)
			}
			if len(tc.token) > 16 && strings.Contains(w.Body.String()+auth, tc.token[:16]) {
				t.Fatal("the response echoes the token")
			}
			allocs := testing.AllocsPerRun(5, func() { serve() })
			if limit := 200.0; allocs > limit {
				t.Fatalf("%v allocations to reject, want at most %v", allocs, limit)
			}
		})
	}
	if st := a.Stats(); st.Rejected["revoked"] == 0 || st.Rejected["header"] == 0 {
		t.Fatalf("rejections not counted by reason: %+v", st)
	}
}

func TestMiddleware(t *testing.T) {
	k := newTestKeys(t, "k1")
	v := testVerifier(t, k, WithVerifiedCache(16))
	rc := &fakeChecker{revoked: map[string]bool{}}
	var seen *Claims
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = ClaimsFrom(r.Context()) })
	good := signRaw(k.priv, header("k1"), validClaims())

	call := func(a *Authenticator, mutate func(*http.Request)) *httptest.ResponseRecorder {
		seen = nil
		r := httptest.NewRequest("GET", "/", nil)
		mutate(r)
		w := httptest.NewRecorder()
		a.Middleware(ok).ServeHTTP(w, r)
		return w
	}
	a := NewAuthenticator(v, rc)
	if w := call(a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good) }); w.Code != 200 || seen == nil || seen.Subject != "alice" {
		t.Fatalf("bearer: %d %+v", w.Code, seen)
	}
	if w := call(a, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: AccessCookie, Value: good}) }); w.Code != 200 || seen == nil {
		t.Fatalf("cookie: %d", w.Code)
	}
	w := call(a, func(*http.Request) {})
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer realm="revocast"` {
		t.Fatalf("no token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	rc.revoked["jti-1"] = true // a revocation takes effect even for a cached token
	w = call(a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good) })
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error_description="token revoked (token)"`) {
		t.Fatalf("revoked: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	delete(rc.revoked, "jti-1")
	rc.stale = true
	if w := call(a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good) }); w.Code != 200 {
		t.Fatalf("stale, fail-open: %d", w.Code)
	}
	closed := NewAuthenticator(v, rc, WithFailClosed())
	if w := call(closed, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good) }); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("stale, fail-closed: %d", w.Code)
	}
}

func TestJWKS(t *testing.T) {
	k1, k2 := newTestKeys(t, "k1"), newTestKeys(t, "k2")
	published := []testKeys{k1}
	fetches := 0
	junk := `{"kty":"RSA","kid":"weak","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"X25519","kid":"x","x":"AA"},{"kid":"nokty"},{"kty":"OKP","crv":"Ed25519","x":"AA"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches++
		var keys []string
		for _, k := range published {
			keys = append(keys, fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","kid":%q,"alg":"EdDSA","use":"sig","x":%q}`, k.kid, base64.RawURLEncoding.EncodeToString(k.pub)))
		}
		fmt.Fprintf(w, `{"keys":[%s,%s]}`, strings.Join(keys, ","), junk)
	}))
	defer srv.Close()
	now := testNow
	v, err := NewVerifier(context.Background(), WithJWKS(srv.URL), WithVerifierClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.SkippedKeys() != 4 {
		t.Fatalf("skipped %d junk entries, want 4", v.SkippedKeys())
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, signRaw(k1.priv, header("k1"), validClaims())); err != nil {
		t.Fatal(err)
	}
	// Rotation: k2 appears; the first token with kid k2 triggers one fetch.
	published = append(published, k2)
	if _, err := v.Verify(ctx, signRaw(k2.priv, header("k2"), validClaims())); err != nil {
		t.Fatalf("new kid not fetched: %v", err)
	}
	if fetches != 2 {
		t.Fatalf("%d fetches, want 2", fetches)
	}
	// Unknown kids do not hammer the issuer: at most one fetch per 30s.
	for i := 0; i < 5; i++ {
		if _, err := v.Verify(ctx, signRaw(k2.priv, header("k9"), validClaims())); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if fetches != 2 {
		t.Fatalf("%d fetches after five unknown kids within 30s of the last fetch, want still 2", fetches)
	}
	now = now.Add(31 * time.Second)
	for i := 0; i < 3; i++ {
		_, _ = v.Verify(ctx, signRaw(k2.priv, header("k9"), validClaims()))
	}
	if fetches != 3 {
		t.Fatalf("%d fetches 31s later, want 3 (one)", fetches)
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"keys":[`+strings.Repeat(" ", 2<<20)+`]}`)
	}))
	defer big.Close()
	if _, err := NewVerifier(ctx, WithJWKS(big.URL)); !errors.Is(err, ErrJWKS) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("oversized JWKS: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	k := newTestKeys(f, "k1")
	v := testVerifier(f, k)
	good := signRaw(k.priv, header("k1"), validClaims())
	decode := func(tok string) (parts [3][]byte, ok bool) {
		ss := strings.Split(tok, ".")
		if len(ss) != 3 {
			return parts, false
		}
		for i, s := range ss {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil {
				return parts, false
			}
			parts[i] = b
		}
		return parts, true
	}
	want, _ := decode(good)
	f.Add(good)
	f.Add(good + "x")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			if strings.Contains(err.Error(), tok) && len(tok) > 8 {
				t.Fatal("error contains the token")
			}
			return
		}
		// Only the genuine token (or an equivalent encoding of the same bytes) may verify.
		got, ok := decode(tok)
		if !ok || string(got[0]) != string(want[0]) || string(got[1]) != string(want[1]) || string(got[2]) != string(want[2]) {
			t.Fatalf("a mutated token verified: %q → %+v", tok, c)
		}
	})
}

func FuzzToken(f *testing.F) {
	a := NewAuthenticator(nil, nil)
	f.Add("Bearer abc", "abc")
	f.Add("bearer   x.y.z  ", "")
	f.Add("Basic Zm9v", "v")
	f.Fuzz(func(t *testing.T, authz, cookie string) {
		r := httptest.NewRequest("GET", "/", nil)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if cookie != "" {
			r.Header["Cookie"] = []string{AccessCookie + "=" + cookie}
		}
		tok := a.Token(r)
		if authz != "" && tok != "" && !strings.Contains(authz, tok) {
			t.Fatalf("token %q not from the header %q", tok, authz)
		}
	})
}

func TestParseJWKSKeyTypes(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecb, _ := ec.PublicKey.Bytes()
	b := base64.RawURLEncoding.EncodeToString
	set := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":%q,"y":%q},{"kty":"RSA","kid":"r","n":%q,"e":"AQAB"},`+
		`{"kty":"EC","crv":"P-256","kid":"offcurve","x":%q,"y":%q}]}`,
		b(ecb[1:33]), b(ecb[33:]), b(rs.N.Bytes()), b(ecb[1:33]), b(make([]byte, 32)))
	keys, skipped, err := parseJWKS([]byte(set))
	if err != nil || skipped != 1 || keys["e"].alg != "ES256" || keys["r"].alg != "RS256" {
		t.Fatalf("keys %v skipped %d err %v", keys, skipped, err)
	}
	// An ES256 token verifies against the parsed EC key.
	v, err := NewVerifier(context.Background(), WithKeys(map[string]crypto.PublicKey{"e": keys["e"].pub}),
		WithVerifierClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(validClaims()))
	tok.Header["typ"], tok.Header["kid"] = "at+jwt", "e"
	s, err := tok.SignedString(ec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), s); err != nil {
		t.Fatalf("ES256: %v", err)
	}
}
