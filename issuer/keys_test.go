package issuer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/revocast/revocast/issuer"
)

// TestKeyAlgorithms: a generated key of each algorithm signs tokens with that alg, is published with
// the right JWK members, and is saved 0600.
func TestKeyAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		alg     string
		kty     string
		members []string
	}{
		{"EdDSA", "OKP", []string{"crv", "x"}},
		{"ES256", "EC", []string{"crv", "x", "y"}},
		{"RS256", "RSA", []string{"n", "e"}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			e := newEnv(t, func(c *issuer.Config) { c.Algorithm = tc.alg })
			jwks := e.do("GET", "/.well-known/jwks.json", nil)
			keys := jwks.body["keys"].([]any)
			if len(keys) != 1 {
				t.Fatalf("jwks %s", jwks.raw)
			}
			k := keys[0].(map[string]any)
			if k["kty"] != tc.kty || k["alg"] != tc.alg || k["use"] != "sig" {
				t.Errorf("jwk %v", k)
			}
			for _, m := range tc.members {
				if s, _ := k[m].(string); s == "" {
					t.Errorf("jwk without %s: %v", m, k)
				}
			}
			l := e.login("bob")
			hdr := jwtHeader(t, l.str("access_token"))
			if hdr["alg"] != tc.alg || hdr["kid"] != k["kid"] || hdr["typ"] != "at+jwt" {
				t.Errorf("header %v", hdr)
			}
			if r := e.do("GET", "/v1/sessions", nil, bearerHdr(l.str("access_token"))...); r.status != 200 {
				t.Errorf("token does not verify: %d", r.status)
			}
			st, err := os.Stat(filepath.Join(e.cfg.KeysDir, k["kid"].(string)+".pem"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v %v", err, st)
			}
		})
	}
}

// TestKeyRotation: the newest key file signs, the older one stays published and accepted.
func TestKeyRotation(t *testing.T) {
	store := newMemStore()
	dir := t.TempDir()
	a := newEnv(t, func(c *issuer.Config) { c.KeysDir = dir; c.Sessions = store })
	old := a.login("bob")
	oldKid := jwtHeader(t, old.str("access_token"))["kid"]
	writeECKey(t, filepath.Join(dir, "zz-new.pem"), time.Now().Add(time.Hour))
	b := newEnv(t, func(c *issuer.Config) { c.KeysDir = dir; c.Sessions = store })
	fresh := b.login("bob")
	if kid := jwtHeader(t, fresh.str("access_token"))["kid"]; kid != "zz-new" {
		t.Errorf("signing kid %v, want the newest zz-new", kid)
	}
	if n := len(b.do("GET", "/.well-known/jwks.json", nil).body["keys"].([]any)); n != 2 {
		t.Errorf("%d keys published, want 2", n)
	}
	if r := b.do("GET", "/v1/sessions", nil, bearerHdr(old.str("access_token"))...); r.status != 200 {
		t.Errorf("token of the older key %v refused: %d", oldKid, r.status)
	}
	// a (started before the new key) learns it on the first unknown kid.
	if r := a.do("GET", "/v1/sessions", nil, bearerHdr(fresh.str("access_token"))...); r.status != 200 {
		t.Errorf("instance a refuses the new key: %d", r.status)
	}
}

// TestConcurrentKeyGeneration: two instances start at once on an empty keys directory. Both start;
// each verifies the other's tokens and publishes every key in the directory.
func TestConcurrentKeyGeneration(t *testing.T) {
	store := newMemStore()
	dir := filepath.Join(t.TempDir(), "keys")
	envs := make([]*env, 2)
	var wg sync.WaitGroup
	for i := range envs {
		wg.Go(func() { envs[i] = newEnv(t, func(c *issuer.Config) { c.KeysDir = dir; c.Sessions = store }) })
	}
	wg.Wait()
	files, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	if len(files) < 1 || len(files) > 2 {
		t.Fatalf("%d key files", len(files))
	}
	for i, e := range envs {
		other := envs[1-i]
		l := e.login("bob")
		if r := other.do("GET", "/v1/sessions", nil, bearerHdr(l.str("access_token"))...); r.status != 200 {
			t.Errorf("instance %d refuses a token of instance %d: %d", 1-i, i, r.status)
		}
		if n := len(e.do("GET", "/.well-known/jwks.json", nil).body["keys"].([]any)); n != len(files) {
			t.Errorf("instance %d publishes %d keys, %d in the directory", i, n, len(files))
		}
	}
}

// TestBadKeys: unusable key files make New fail with ErrConfig.
func TestBadKeys(t *testing.T) {
	for name, content := range map[string]string{
		"garbage.pem": "not a key",
		"bad kid.pem": "",
		"rsa1024.pem": "rsa1024",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			data := []byte(content)
			if content == "rsa1024" {
				data = rsaPEM(t, 1024)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := issuer.New(issuer.Config{KeysDir: dir, Users: writeUsers(t, t.TempDir()), PasswordHash: testHash,
				Sessions: newMemStore(), Revoker: &memRevoker{}})
			if !errors.Is(err, issuer.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
}

func writeECKey(t *testing.T, path string, mtime time.Time) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func jwtHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	return claimsOf(t, token[:0]+headerAsPayload(token))
}

// headerAsPayload rearranges a JWT so that claimsOf decodes its header.
func headerAsPayload(token string) string {
	for i := range len(token) {
		if token[i] == '.' {
			return "x." + token[:i] + ".x"
		}
	}
	return token
}

func rsaPEM(t *testing.T, bits int) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
