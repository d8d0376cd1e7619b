package subscriber

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
)

// maxJWKSSize bounds a JWKS response.
const maxJWKSSize = 1 << 20

// verifyKey is one public key with the only algorithm it verifies.
type verifyKey struct {
	pub crypto.PublicKey
	alg string
}

// algFor returns the one algorithm a public key verifies: the allowlist is derived from the key
// type, so an HMAC or "none" token never verifies against a public key.
func algFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: bad Ed25519 key size", ErrJWKS)
		}
		return "EdDSA", nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: only P-256 EC keys are supported", ErrJWKS)
		}
		return "ES256", nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("%w: RSA key shorter than 2048 bits", ErrJWKS)
		}
		return "RS256", nil
	}
	return "", fmt.Errorf("%w: unsupported key type %T", ErrJWKS, pub)
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS parses a JWK Set, returning the usable keys by kid and how many entries it skipped
// (unsupported, malformed, not for signatures, or without kid).
func parseJWKS(data []byte) (map[string]verifyKey, int, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, 0, fmt.Errorf("%w: not a JWK set", ErrJWKS)
	}
	keys := map[string]verifyKey{}
	skipped := 0
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			skipped++
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			skipped++
			continue
		}
		alg, err := algFor(pub)
		if err != nil || (k.Alg != "" && k.Alg != alg) {
			skipped++
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			skipped++
			continue
		}
		keys[k.Kid] = verifyKey{pub: pub, alg: alg}
	}
	return keys, skipped, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

func (k *jwk) publicKey() (crypto.PublicKey, error) {
	switch {
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: bad OKP key", ErrJWKS)
		}
		return ed25519.PublicKey(x), nil
	case k.Kty == "EC" && k.Crv == "P-256":
		x, errX := b64(k.X)
		y, errY := b64(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("%w: bad EC key", ErrJWKS)
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: EC point not on P-256", ErrJWKS)
		}
		return pub, nil
	case k.Kty == "RSA":
		n, errN := b64(k.N)
		e, errE := b64(k.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("%w: bad RSA key", ErrJWKS)
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return nil, fmt.Errorf("%w: bad RSA exponent", ErrJWKS)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type", ErrJWKS)
}

// fetchJWKS GETs a JWK Set, at most 1 MiB.
func fetchJWKS(ctx context.Context, client *http.Client, url string) (map[string]verifyKey, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: fetch: %v", ErrJWKS, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%w: fetch: %s", ErrJWKS, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read: %v", ErrJWKS, err)
	}
	if len(data) > maxJWKSSize {
		return nil, 0, fmt.Errorf("%w: response larger than 1 MiB", ErrJWKS)
	}
	return parseJWKS(data)
}
