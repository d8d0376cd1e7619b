package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	register(command{name: "event-key", summary: "generate an Ed25519 key pair that signs revocation events", run: runEventKey})
}

// kidOf is a key file's key id: its base name without ".pub.pem" or ".pem".
func kidOf(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(strings.TrimSuffix(base, ".pem"), ".pub")
}

// loadEventKey reads a PKCS#8 PEM Ed25519 private key; its kid is the file name.
func loadEventKey(path string) (string, ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("--event-key: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "", nil, fmt.Errorf("--event-key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("--event-key %s: %v", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return "", nil, fmt.Errorf("--event-key %s: not an Ed25519 key", path)
	}
	return kidOf(path), priv, nil
}

// loadTrustedKeys reads comma-separated PKIX PEM Ed25519 public key files, by kid.
func loadTrustedKeys(list string) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	for _, path := range strings.Split(list, ",") {
		path = strings.TrimSpace(path)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--trusted-event-keys: %v", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("--trusted-event-keys %s: not PEM", path)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--trusted-event-keys %s: %v", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("--trusted-event-keys %s: not an Ed25519 key", path)
		}
		keys[kidOf(path)] = pub
	}
	return keys, nil
}

// writeEventKey generates a key pair as dir/kid.pem (private, 0600) and dir/kid.pub.pem.
func writeEventKey(dir, kid string) (privPath, pubPath string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	privPath, pubPath = filepath.Join(dir, kid+".pem"), filepath.Join(dir, kid+".pub.pem")
	if err := os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return "", "", err
	}
	return privPath, pubPath, os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), 0o644)
}

func runEventKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("event-key", "generate an Ed25519 key pair that signs revocation events: DIR/KID.pem for issuers (--event-key), DIR/KID.pub.pem for services (--trusted-event-keys)", stderr)
	dir := fs.String("dir", "event-keys", "directory to write the key pair to")
	kid := fs.String("kid", "events-1", "key id (the file names)")
	ifMissing := fs.Bool("if-missing", false, "do nothing, successfully, when the key already exists (for an init container)")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	if *kid == "" || strings.ContainsAny(*kid, `/\. `) {
		return errors.New("--kid must be a plain name")
	}
	if _, err := os.Stat(filepath.Join(*dir, *kid+".pem")); err == nil {
		if *ifMissing {
			return nil
		}
		return fmt.Errorf("%s already exists: choose another --kid", filepath.Join(*dir, *kid+".pem"))
	}
	priv, pub, err := writeEventKey(*dir, *kid)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "private key (issuers, revoke: --event-key): %s\npublic key (services: --trusted-event-keys): %s\n", priv, pub)
	return nil
}
