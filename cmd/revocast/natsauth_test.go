package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

// startShippedNATS runs nats-server with deploy/nats.conf (the users and permissions revocast
// ships) on a free loopback port.
func startShippedNATS(t *testing.T) string {
	t.Helper()
	t.Setenv("REVOCAST_NATS_ISSUER_PASSWORD", "issuer-secret")
	t.Setenv("REVOCAST_NATS_SUBSCRIBER_PASSWORD", "subscriber-secret")
	opts, err := server.ProcessConfigFile("../../deploy/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server with deploy/nats.conf did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestShippedNATSPermissions: with the shipped configuration, a subscriber's credentials cannot
// publish a revocation — the server answers with a permissions violation and no subscriber
// applies anything — while the issuer's can.
func TestShippedNATSPermissions(t *testing.T) {
	url := startShippedNATS(t)
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	store := redisstore.New(r.Client(t))
	ctx := context.Background()

	var (
		mu         sync.Mutex
		violations []error
	)
	subAuth := &natsAuth{user: "subscriber", password: "subscriber-secret"}
	snc, err := connectNATS(ctx, url, "test-subscriber", subAuth)
	if err != nil {
		t.Fatal(err)
	}
	defer snc.Close()
	snc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err)
		mu.Unlock()
	})
	sub, err := subscriber.New(snc, store)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// A service holding subscriber credentials tries to log everyone out.
	now := time.Now()
	forged := events.Revocation{Seq: 1, Kind: events.KindAll, RevokedAt: now, NotBefore: now.Add(time.Hour), DropAfter: now.Add(2 * time.Hour)}
	if err := snc.Publish(events.RevocationSubject(events.DefaultPrefix), forged.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	_ = snc.Flush()
	testenv.WaitFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range violations {
			if errors.Is(v, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(v.Error()), "permissions violation") {
				return nil
			}
		}
		return fmt.Errorf("no permissions violation reported (%v)", violations)
	})

	// The issuer's credentials publish; once that later revocation is applied, the forged one
	// would have been seen before it if the server had let it through.
	inc, err := connectNATS(ctx, url, "test-issuer", &natsAuth{user: "issuer", password: "issuer-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer inc.Close()
	rv, err := revoker.New(inc, store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rv.Revoke(ctx, events.Revocation{Kind: events.KindToken, ID: "legit"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if sub.Check(&subscriber.Claims{ID: "legit", SessionID: "s", Subject: "u", IssuedAt: now}) == nil {
			return errors.New("the issuer's revocation is not applied yet")
		}
		return nil
	})
	if err := sub.Check(&subscriber.Claims{ID: "other", SessionID: "s", Subject: "u", IssuedAt: now}); err != nil {
		t.Fatalf("the forged 'revoke all' took effect: %v", err)
	}
	if st := sub.Stats(); st.Entries["all"] != 0 || st.AppliedEvents != 1 {
		t.Fatalf("subscriber applied %d events, entries %v: want only the issuer's one", st.AppliedEvents, st.Entries)
	}

	// Wrong credentials: a one-line error that says what to fix.
	t.Setenv("REVOCAST_NATS_PASSWORD", "wrong")
	code, _, stderr := runCmd(t, "", "watch", "--nats", url, "--nats-user", "subscriber")
	if code != 2 || !strings.Contains(stderr, "cannot connect to NATS") || !strings.Contains(strings.ToLower(stderr), "authorization") {
		t.Fatalf("wrong password: exit %d, %q", code, stderr)
	}
}
