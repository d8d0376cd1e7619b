package redisstore

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
)

// TestShippedACL: with deploy/redis-users.acl, the issuer's user appends and the subscriber's user
// reads (snapshot and catch-up) but cannot write, not even through a script.
func TestShippedACL(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	acl := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "redis-users.acl")
	r := testenv.StartRedis(t, testenv.RedisOptions{Args: []string{"--aclfile", acl}})
	ctx := context.Background()
	client := func(user, pw string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: user, Password: pw, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	now := time.Now()
	rev := func(id string) []events.Revocation {
		return []events.Revocation{{Kind: events.KindToken, ID: id, RevokedAt: now, DropAfter: now.Add(time.Hour)}}
	}
	issuer := New(client("issuer", "issuer-secret"))
	if err := issuer.Append(ctx, rev("by-issuer")); err != nil {
		t.Fatalf("issuer append: %v", err)
	}
	sub := New(client("subscriber", "subscriber-secret"))
	n := 0
	if _, err := sub.Snapshot(ctx, func(b []events.Revocation) error { n += len(b); return nil }); err != nil || n != 1 {
		t.Fatalf("subscriber snapshot: %d entries, %v", n, err)
	}
	if recs, head, err := sub.After(ctx, 0, 10); err != nil || len(recs) != 1 || head != 1 {
		t.Fatalf("subscriber catch-up: %v %d %v", recs, head, err)
	}
	err := sub.Append(ctx, rev("by-subscriber"))
	if err == nil || !(strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "can't run this command")) {
		t.Fatalf("subscriber append = %v, want an ACL refusal", err)
	}
	if err := client("subscriber", "subscriber-secret").Set(ctx, "{revocast}:seq", "999", 0).Err(); err == nil {
		t.Fatal("the subscriber user can SET")
	}
	if head, _ := issuer.Head(ctx); head != 1 {
		t.Fatalf("head %d after refused writes, want 1", head)
	}
	if err := client("default", "").Ping(ctx).Err(); err == nil || errors.Is(err, context.Canceled) {
		t.Fatal("the default user is not disabled")
	}
}
