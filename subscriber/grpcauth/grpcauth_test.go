package grpcauth_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/revocast/revocast/subscriber"
	"github.com/revocast/revocast/subscriber/grpcauth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type checker struct{ revoked string }

func (c checker) Check(cl *subscriber.Claims) error {
	if cl.ID == c.revoked {
		return subscriber.ErrRevoked
	}
	return nil
}
func (checker) Fresh() bool { return true }

func sign(t *testing.T, priv ed25519.PrivateKey, jti string) string {
	seg := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	now := time.Now()
	in := seg(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}) + "." + seg(map[string]any{
		"iss": "revocast", "aud": "revocast", "sub": "alice", "sid": "s1", "jti": jti,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

// claimsHealth is a health service that also checks the claims reached the handler.
type claimsHealth struct {
	*health.Server
	t *testing.T
}

func (h claimsHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if c := subscriber.ClaimsFrom(ctx); c == nil || c.Subject != "alice" {
		h.t.Errorf("claims not in the handler's context: %+v", c)
	}
	return h.Server.Check(ctx, req)
}

func TestInterceptors(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, err := subscriber.NewVerifier(context.Background(), subscriber.WithKeys(map[string]crypto.PublicKey{"k1": pub}))
	if err != nil {
		t.Fatal(err)
	}
	a := subscriber.NewAuthenticator(v, checker{revoked: "gone"})
	srv := grpc.NewServer(grpc.UnaryInterceptor(grpcauth.UnaryServerInterceptor(a)),
		grpc.StreamInterceptor(grpcauth.StreamServerInterceptor(a)))
	healthpb.RegisterHealthServer(srv, claimsHealth{health.NewServer(), t})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	cases := []struct {
		name, auth string
		want       codes.Code
	}{
		{"valid", "Bearer " + sign(t, priv, "ok"), codes.OK},
		{"missing", "", codes.Unauthenticated},
		{"not bearer", "Basic Zm9v", codes.Unauthenticated},
		{"revoked", "Bearer " + sign(t, priv, "gone"), codes.Unauthenticated},
		{"garbage", "Bearer x.y.z", codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.auth != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.auth)
			}
			_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("unary: %v, want %v", err, tc.want)
			}
			stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if got := status.Code(err); got != tc.want {
				t.Fatalf("stream: %v, want %v", err, tc.want)
			}
		})
	}
}
