package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/revocast/revocast/internal/testenv"
)

// TestRedisOverTLS: with a rediss:// URL and --redis-ca (and a client certificate when Redis asks
// for one) the services reach a TLS-only Redis port; without the CA they refuse it.
func TestRedisOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, srvCert, srvKey, cliCert, cliKey := certs(t, dir)
	tlsPort := testenv.FreePort(t)
	testenv.StartRedis(t, testenv.RedisOptions{Args: []string{"--tls-port", fmt.Sprint(tlsPort),
		"--tls-cert-file", srvCert, "--tls-key-file", srvKey, "--tls-ca-cert-file", ca, "--tls-auth-clients", "yes"}})
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", tlsPort)
	c, err := connectRedis(context.Background(), url, &redisTLS{ca: ca, cert: cliCert, key: cliKey})
	if err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := connectRedis(context.Background(), url, &redisTLS{ca: ca}); err == nil {
		t.Fatal("connected without the client certificate Redis requires")
	}
	if _, err := connectRedis(context.Background(), url, nil); err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Fatalf("without the CA: %v", err)
	}
	if _, err := connectRedis(context.Background(), "redis://127.0.0.1:1/0", &redisTLS{ca: ca}); err == nil || !strings.Contains(err.Error(), "rediss://") {
		t.Fatalf("--redis-ca with a plain URL: %v", err)
	}
}
