package subscriber

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"strings"
	"testing"
)

// FuzzParseJWKS: a JWK Set comes over the network. Parsing never panics, every entry is either
// kept or counted as skipped, and every kept key is of a supported type with the one algorithm that
// type allows (RSA at least 2048 bits).
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"sig","alg":"EdDSA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"},{"kty":"oct","k":"c2VjcmV0"},{}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, skipped, err := parseJWKS(data)
		if err != nil {
			if strings.Contains(err.Error(), string(data)) && len(data) > 8 {
				t.Fatalf("error quotes the document: %v", err)
			}
			return
		}
		if skipped < 0 {
			t.Fatalf("negative skipped count %d", skipped)
		}
		for kid, k := range keys {
			if kid == "" {
				t.Fatal("a key without kid was kept")
			}
			switch pub := k.pub.(type) {
			case ed25519.PublicKey:
				if k.alg != "EdDSA" || len(pub) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key %q with alg %s, %d bytes", kid, k.alg, len(pub))
				}
			case *ecdsa.PublicKey:
				if k.alg != "ES256" || pub.Curve.Params().Name != "P-256" {
					t.Fatalf("EC key %q with alg %s", kid, k.alg)
				}
			case *rsa.PublicKey:
				if k.alg != "RS256" || pub.N.BitLen() < 2048 {
					t.Fatalf("RSA key %q with alg %s, %d bits", kid, k.alg, pub.N.BitLen())
				}
			default:
				t.Fatalf("key %q of unsupported type %T kept", kid, k.pub)
			}
		}
	})
}
