package subscriber

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revocast/revocast/internal/testenv"
)

// BenchmarkMiddleware measures one request through the middleware with an EdDSA token, uncached
// and with the verified-token cache, beside the baselines: a raw golang-jwt parse and verify of the
// same token, and that verify plus one Redis EXISTS (a Redis-backed blacklist).
func BenchmarkMiddleware(b *testing.B) {
	k := newTestKeys(b, "k1")
	token := signRaw(k.priv, header("k1"), validClaims())
	s := loadedSubscriber(b, 100_000)
	s.markFresh()
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	req := httptest.NewRequest("GET", "/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)

	serve := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		w := httptest.NewRecorder()
		for b.Loop() {
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	}
	b.Run("uncached", func(b *testing.B) {
		serve(b, NewAuthenticator(testVerifier(b, k), s).Middleware(next))
	})
	b.Run("cached", func(b *testing.B) {
		serve(b, NewAuthenticator(testVerifier(b, k, WithVerifiedCache(1024)), s).Middleware(next))
	})
	serveParallel := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := httptest.NewRecorder()
			for pb.Next() {
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Errorf("status %d", w.Code)
					return
				}
			}
		})
	}
	b.Run("uncached-parallel", func(b *testing.B) {
		serveParallel(b, NewAuthenticator(testVerifier(b, k), s).Middleware(next))
	})
	b.Run("cached-parallel", func(b *testing.B) {
		serveParallel(b, NewAuthenticator(testVerifier(b, k, WithVerifiedCache(1024)), s).Middleware(next))
	})
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
	rawVerify := func(b *testing.B) {
		if _, err := parser.Parse(token, func(*jwt.Token) (any, error) { return k.pub, nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("raw-golang-jwt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rawVerify(b)
		}
	})
	b.Run("raw-golang-jwt+redis-exists", func(b *testing.B) {
		r := testenv.StartRedis(b, testenv.RedisOptions{})
		c := r.Client(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			rawVerify(b)
			if err := c.Exists(ctx, "bl:jti-1").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
