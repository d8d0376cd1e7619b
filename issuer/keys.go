package issuer

import (
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
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signingKey is one key of KeysDir.
type signingKey struct {
	kid     string
	method  jwt.SigningMethod
	private crypto.Signer
	public  crypto.PublicKey
	modTime time.Time
}

// keySet is the keys of KeysDir: the newest signs, all verify and are published. It re-reads the
// directory when its modification time changes (checked at most once a second), so a key added by
// another instance (or by an operator, for rotation) is published and trusted without a restart.
type keySet struct {
	dir string

	mu     sync.RWMutex
	keys   map[string]*signingKey
	signer *signingKey
	jwks   []byte
	dirMod time.Time
}

func signingMethodFor(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case "EdDSA":
		return jwt.SigningMethodEdDSA, nil
	case "ES256":
		return jwt.SigningMethodES256, nil
	case "RS256":
		return jwt.SigningMethodRS256, nil
	}
	return nil, fmt.Errorf("%w: algorithm %q: want EdDSA, ES256 or RS256", ErrConfig, alg)
}

// loadKeys opens dir, generating a key of algorithm alg if it holds none.
func loadKeys(dir, alg string) (*keySet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: keys dir: %w", ErrConfig, err)
	}
	ks := &keySet{dir: dir}
	if err := ks.reload(); err != nil {
		return nil, err
	}
	if ks.signer == nil {
		if err := generateKey(dir, alg); err != nil {
			return nil, err
		}
		if err := ks.reload(); err != nil {
			return nil, err
		}
		if ks.signer == nil {
			return nil, fmt.Errorf("%w: no key in %s after generating one", ErrConfig, dir)
		}
	}
	return ks, nil
}

// generateKey writes a new private key to dir/<kid>.pem (0600), atomically: the PEM is written to a
// temporary file in dir, synced, then renamed, so a reader never sees a partial key. Two instances
// starting at once on an empty directory may both generate one: both files are then valid keys,
// each instance signs with the newest it has read, and both are published (the JWKS re-reads the
// directory), so tokens from either verify everywhere.
func generateKey(dir, alg string) error {
	var key crypto.Signer
	var err error
	switch alg {
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		_, err = signingMethodFor(alg)
	}
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("issuer: marshal key: %w", err)
	}
	kid := time.Now().UTC().Format("20060102T150405Z") + "-" + randomString(6)
	f, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return fmt.Errorf("issuer: write key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("issuer: write key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("issuer: write key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("issuer: write key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("issuer: write key: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, kid+".pem")); err != nil {
		return fmt.Errorf("issuer: write key: %w", err)
	}
	return nil
}

// reload reads every <kid>.pem of the directory. On any error the previous set stays in use.
func (ks *keySet) reload() error {
	st, err := os.Stat(ks.dir)
	if err != nil {
		return fmt.Errorf("%w: keys dir: %w", ErrConfig, err)
	}
	entries, err := os.ReadDir(ks.dir)
	if err != nil {
		return fmt.Errorf("%w: keys dir: %w", ErrConfig, err)
	}
	keys := make(map[string]*signingKey)
	var list []*signingKey
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".pem") || strings.HasPrefix(name, ".") {
			continue
		}
		k, err := readKey(filepath.Join(ks.dir, name))
		if err != nil {
			return err
		}
		keys[k.kid] = k
		list = append(list, k)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].modTime.Equal(list[j].modTime) {
			return list[i].modTime.Before(list[j].modTime)
		}
		return list[i].kid < list[j].kid
	})
	var signer *signingKey
	if len(list) > 0 {
		signer = list[len(list)-1]
	}
	jwks, err := encodeJWKS(list)
	if err != nil {
		return err
	}
	ks.mu.Lock()
	ks.keys, ks.signer, ks.jwks, ks.dirMod = keys, signer, jwks, st.ModTime()
	ks.mu.Unlock()
	return nil
}

// refresh re-reads the directory if its modification time changed (one stat; a reload only when a
// key file was added, removed or renamed).
func (ks *keySet) refresh() {
	ks.mu.RLock()
	mod := ks.dirMod
	ks.mu.RUnlock()
	st, err := os.Stat(ks.dir)
	if err != nil || st.ModTime().Equal(mod) {
		return
	}
	_ = ks.reload() // on error the previous keys stay in use
}

func (ks *keySet) current() *signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.signer
}

func (ks *keySet) lookup(kid string) *signingKey {
	ks.mu.RLock()
	k := ks.keys[kid]
	ks.mu.RUnlock()
	if k == nil {
		ks.refresh()
		ks.mu.RLock()
		k = ks.keys[kid]
		ks.mu.RUnlock()
	}
	return k
}

func (ks *keySet) jwksJSON() []byte {
	ks.refresh()
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.jwks
}

func validKid(kid string) bool {
	if kid == "" || len(kid) > 128 {
		return false
	}
	for _, c := range kid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func readKey(path string) (*signingKey, error) {
	kid := strings.TrimSuffix(filepath.Base(path), ".pem")
	if !validKid(kid) {
		return nil, fmt.Errorf("%w: key file %s: kid must be 1-128 of [A-Za-z0-9._-]", ErrConfig, filepath.Base(path))
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrConfig, kid, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrConfig, kid, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: key %s: not a PKCS#8 PEM private key", ErrConfig, kid)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrConfig, kid, err)
	}
	k := &signingKey{kid: kid, modTime: st.ModTime()}
	switch p := parsed.(type) {
	case ed25519.PrivateKey:
		k.method, k.private, k.public = jwt.SigningMethodEdDSA, p, p.Public()
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: key %s: only P-256 EC keys (ES256)", ErrConfig, kid)
		}
		k.method, k.private, k.public = jwt.SigningMethodES256, p, p.Public()
	case *rsa.PrivateKey:
		if p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: key %s: RSA keys must have at least 2048 bits", ErrConfig, kid)
		}
		k.method, k.private, k.public = jwt.SigningMethodRS256, p, p.Public()
	default:
		return nil, fmt.Errorf("%w: key %s: unsupported key type %T", ErrConfig, kid, parsed)
	}
	return k, nil
}

// jwk is one public key of the JWKS (RFC 7517, RFC 7518, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

func encodeJWKS(keys []*signingKey) ([]byte, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		j := jwk{Kid: k.kid, Alg: k.method.Alg(), Use: "sig"}
		switch pub := k.public.(type) {
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pub)
		case *ecdsa.PublicKey:
			e, err := pub.ECDH()
			if err != nil {
				return nil, fmt.Errorf("%w: key %s: %w", ErrConfig, k.kid, err)
			}
			pt := e.Bytes() // 0x04 || X || Y
			j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(pt[1:33]), b64(pt[33:65])
		case *rsa.PublicKey:
			j.Kty, j.N, j.E = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
		default:
			return nil, errors.New("issuer: unsupported public key")
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}
