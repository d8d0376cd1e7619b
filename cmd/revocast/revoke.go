package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/jsstore"
	"github.com/revocast/revocast/store/redisstore"
)

func init() {
	register(command{name: "revoke", summary: "revoke a token, session, subject or everything", run: runRevoke})
}

func runRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "revoke a token, session, subject or everything: through the store and NATS (--redis), or through the issuer's admin API (--issuer-url with REVOCAST_TOKEN)"
	fs := newFlagSet("revoke", summary, stderr)
	kind := fs.String("kind", "", "what to revoke: token (by jti), session (by sid), subject (by sub), all")
	id := fs.String("id", "", "the jti, sid or sub (none for --kind all)")
	notBefore := fs.String("not-before", "", "for subject and all: revoke tokens issued before this RFC 3339 time (default now)")
	reason := fs.String("reason", "cli", "reason recorded with the revocation")
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL, with --redis")
	redisURL := fs.String("redis", "", "Redis URL of the revocation log: revoke directly through the store and NATS")
	jetStream := fs.Bool("jetstream", false, "revoke directly through the JetStream log on --nats (the store of 'revocast dev')")
	storePrefix := fs.String("store-prefix", "revocast", "key prefix in Redis, with --redis")
	prefix := fs.String("prefix", events.DefaultPrefix, "NATS subject prefix, with --redis")
	accessTTL := fs.Duration("access-ttl", 5*time.Minute, "the issuer's access-token lifetime, with --redis (bounds how long the entry is kept)")
	var auth natsAuth
	auth.register(fs)
	eventKey := fs.String("event-key", "", "Ed25519 private key file that signs the event, with --redis or --jetstream (services that trust only signed events drop unsigned ones)")
	issuerURL := fs.String("issuer-url", "", "issuer base URL: revoke through POST /v1/revocations with an admin access token from REVOCAST_TOKEN")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	rev, err := revocationFromFlags(*kind, *id, *notBefore, *reason)
	if err != nil {
		return err
	}
	var seq uint64
	switch {
	case btoi(*issuerURL != "")+btoi(*redisURL != "")+btoi(*jetStream) > 1:
		return errors.New("give one of --redis, --jetstream and --issuer-url")
	case *issuerURL != "":
		token := os.Getenv("REVOCAST_TOKEN") // never a flag: it would show in ps
		if token == "" {
			return errors.New("--issuer-url needs an admin access token in REVOCAST_TOKEN")
		}
		seq, err = revokeThroughIssuer(ctx, *issuerURL, token, *kind, *id, *notBefore, *reason)
	case *redisURL != "", *jetStream:
		seq, err = revokeThroughStore(ctx, *redisURL, *storePrefix, *natsURL, &auth, *eventKey, *prefix, *accessTTL, rev)
	default:
		return errors.New("say where to revoke: --redis URL or --jetstream (store and NATS), or --issuer-url URL (admin API)")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s %s: seq %d\n", rev.Kind, rev.ID, seq)
	return nil
}

// revocationFromFlags checks the flags locally so a typo is reported before any connection.
func revocationFromFlags(kind, id, notBefore, reason string) (events.Revocation, error) {
	k, err := events.ParseKind(kind)
	if err != nil {
		return events.Revocation{}, errors.New("--kind must be token, session, subject or all")
	}
	rev := events.Revocation{Kind: k, ID: id, Reason: reason}
	if k == events.KindAll {
		if id != "" {
			return rev, errors.New("--kind all takes no --id")
		}
	} else if err := events.ValidID(id); err != nil {
		return rev, fmt.Errorf("--id: %v", err)
	}
	if notBefore != "" {
		if k != events.KindSubject && k != events.KindAll {
			return rev, errors.New("--not-before is only for --kind subject and all")
		}
		t, err := time.Parse(time.RFC3339Nano, notBefore)
		if err != nil {
			return rev, fmt.Errorf("--not-before: want RFC 3339, e.g. %s", time.Now().UTC().Format(time.RFC3339))
		}
		rev.NotBefore = t
	}
	return rev, nil
}

// revokeThroughStore appends to the Redis log at redisURL, or to the JetStream log when redisURL is
// empty, and publishes on NATS.
func revokeThroughStore(ctx context.Context, redisURL, storePrefix, natsURL string, auth *natsAuth, eventKey, prefix string, accessTTL time.Duration, rev events.Revocation) (uint64, error) {
	nc, err := connectNATS(ctx, natsURL, "revocast-revoke", auth)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var log revoker.Log
	if redisURL != "" {
		rc, err := connectRedis(ctx, redisURL, nil)
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		log = redisstore.New(rc, redisstore.WithPrefix(storePrefix))
	} else if log, err = jsstore.New(ctx, nc); err != nil {
		return 0, err
	}
	var (
		mu     sync.Mutex
		pubErr error
	)
	opts := []revoker.Option{revoker.WithPrefix(prefix), revoker.WithMaxTokenLifetime(accessTTL),
		revoker.WithErrorHandler(func(err error) { mu.Lock(); pubErr = err; mu.Unlock() })}
	if eventKey != "" {
		kid, key, err := loadEventKey(eventKey)
		if err != nil {
			return 0, err
		}
		opts = append(opts, revoker.WithSigner(kid, key))
	}
	rv, err := revoker.New(nc, log, opts...)
	if err != nil {
		return 0, err
	}
	seq, err := rv.Revoke(ctx, rev)
	if err != nil {
		return 0, err
	}
	ferr := nc.Flush()
	mu.Lock()
	defer mu.Unlock()
	if ferr != nil || pubErr != nil {
		fmt.Fprintf(os.Stderr, "warning: stored durably as seq %d but not broadcast (%v); subscribers catch up from the store\n", seq, errors.Join(ferr, pubErr))
	}
	return seq, nil
}

func revokeThroughIssuer(ctx context.Context, base, token, kind, id, notBefore, reason string) (uint64, error) {
	body, _ := json.Marshal(map[string]string{"kind": kind, "id": id, "not_before": notBefore, "reason": reason})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/v1/revocations", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("invalid --issuer-url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the issuer at %s: %v (check --issuer-url)", base, err)
	}
	defer resp.Body.Close()
	var out struct {
		Seq     uint64 `json:"seq"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out)
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("issuer answered %s: %s %s", resp.Status, out.Error, out.Message)
	}
	return out.Seq, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
