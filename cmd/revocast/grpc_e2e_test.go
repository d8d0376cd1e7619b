package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
	"github.com/revocast/revocast/subscriber/grpcauth"
)

// TestGRPCEndToEnd: login at the real issuer, a gRPC call through the interceptor succeeds, logout,
// the same call is Unauthenticated.
func TestGRPCEndToEnd(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	dir := t.TempDir()
	issuerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	background(t, "issuer", "--http", issuerAddr, "--redis", r.URL(), "--nats", n.URL(), "--users", writeUsers(t, dir),
		"--keys", filepath.Join(dir, "keys"), "--insecure-cookies")
	waitHTTP(t, "http://"+issuerAddr+"/readyz")

	ctx := context.Background()
	sub, err := subscriber.New(n.Connect(t), redisstore.New(r.Client(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := subscriber.NewVerifier(ctx, subscriber.WithJWKS("http://"+issuerAddr+"/.well-known/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	auth := subscriber.NewAuthenticator(v, sub)
	srv := grpc.NewServer(grpc.UnaryInterceptor(grpcauth.UnaryServerInterceptor(auth)))
	healthpb.RegisterHealthServer(srv, health.NewServer())
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
	call := func(token string) codes.Code {
		cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), 5*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		return status.Code(err)
	}

	c := client{t}
	code, login := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	access := login["access_token"].(string)
	if got := call(access); got != codes.OK {
		t.Fatalf("gRPC call with a fresh token: %v", got)
	}
	if code, _ := c.do("POST", "http://"+issuerAddr+"/v1/logout", access, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if got := call(access); got != codes.Unauthenticated {
			return fmt.Errorf("gRPC call after logout: %v", got)
		}
		return nil
	})
}
