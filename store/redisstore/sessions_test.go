package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/redisstore"
)

var sessT0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func newSession(id, sub string) redisstore.Session {
	return redisstore.Session{
		ID: id, Subject: sub, CreatedAt: sessT0, ExpiresAt: sessT0.Add(30 * 24 * time.Hour), Idle: 7 * 24 * time.Hour,
		UserAgent: "ua", IP: "127.0.0.1", RefreshHash: "h0",
	}
}

func TestSessionsCRUD(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	s := redisstore.NewSessions(client, redisstore.WithSessionsPrefix("t"))
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i, sub := range []string{"alice", "alice", "bob"} {
		if err := s.Create(ctx, newSession(fmt.Sprint("s", i), sub)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, newSession("s0", "alice")); !errors.Is(err, redisstore.ErrSessionExists) {
		t.Errorf("duplicate: %v", err)
	}
	got, err := s.Get(ctx, "s0")
	want := newSession("s0", "alice")
	want.LastUsed = sessT0
	if err != nil || got != want {
		t.Fatalf("get: %+v %v\nwant %+v", got, err, want)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, redisstore.ErrSessionNotFound) {
		t.Errorf("get unknown: %v", err)
	}
	// Keys carry the hash tag; the TTL is min(lifetime, idle) = 7 days.
	if ttl := client.PTTL(ctx, "{t}:sess:s0").Val(); ttl <= 0 || ttl > 7*24*time.Hour {
		t.Errorf("ttl %v", ttl)
	}
	list, err := s.ListByUser(ctx, "alice", sessT0)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	if list, _ := s.ListByUser(ctx, "alice", sessT0.Add(8*24*time.Hour)); len(list) != 0 {
		t.Errorf("idle sessions listed: %d", len(list))
	}
	if ok, err := s.Delete(ctx, "s0"); !ok || err != nil {
		t.Errorf("delete: %v %v", ok, err)
	}
	if ok, _ := s.Delete(ctx, "s0"); ok {
		t.Error("deleted twice")
	}
	if n := client.ZCard(ctx, "{t}:user:alice:sessions").Val(); n != 1 {
		t.Errorf("index has %d entries after delete", n)
	}
	if err := s.Touch(ctx, "s1", sessT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "s1"); !got.LastUsed.Equal(sessT0.Add(time.Hour)) {
		t.Errorf("touch: last used %v", got.LastUsed)
	}
	if err := s.Touch(ctx, "s1", sessT0.Add(9*24*time.Hour)); !errors.Is(err, redisstore.ErrSessionNotFound) {
		t.Errorf("touch after idle: %v", err)
	}
	if n, err := s.DeleteAllByUser(ctx, "bob"); n != 1 || err != nil {
		t.Errorf("delete all: %d %v", n, err)
	}
	if client.Exists(ctx, "{t}:sess:s2", "{t}:user:bob:sessions").Val() != 0 {
		t.Error("keys left after DeleteAllByUser")
	}
	// An index entry whose session expired is pruned by ListByUser.
	s.Create(ctx, newSession("s3", "carol"))
	client.Del(ctx, "{t}:sess:s3")
	if list, _ := s.ListByUser(ctx, "carol", sessT0); len(list) != 0 || client.ZCard(ctx, "{t}:user:carol:sessions").Val() != 0 {
		t.Error("stale index entry not pruned")
	}
}

// TestSessionsRotate walks the rotation rules step by step.
func TestSessionsRotate(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	s := redisstore.NewSessions(r.Client(t))
	ctx := t.Context()
	const grace = 10 * time.Second
	at := func(d time.Duration) time.Time { return sessT0.Add(d) }
	type step struct {
		presented, next string
		at              time.Duration
		err             error
		cur, prev       string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"chain", []step{
			{"h0", "h1", time.Second, nil, "h1", "h0"},
			{"h1", "h2", 2 * time.Second, nil, "h2", "h1"},
			{"h2", "h3", time.Hour, nil, "h3", "h2"},
		}},
		{"predecessor within grace", []step{
			{"h0", "h1", time.Second, nil, "h1", "h0"},
			{"h0", "h1b", 11 * time.Second, nil, "h1b", "h0"}, // exactly at the end of the window
			{"h1b", "h2", 12 * time.Second, nil, "h2", "h1b"},
		}},
		{"grace is not extended", []step{
			{"h0", "h1", time.Second, nil, "h1", "h0"},
			{"h0", "h1b", 5 * time.Second, nil, "h1b", "h0"},
			{"h0", "h1c", 12 * time.Second, redisstore.ErrSessionReuse, "", ""},
		}},
		{"predecessor after grace is reuse", []step{
			{"h0", "h1", time.Second, nil, "h1", "h0"},
			{"h0", "x", 12 * time.Second, redisstore.ErrSessionReuse, "", ""},
			{"h1", "h2", 13 * time.Second, redisstore.ErrSessionNotFound, "", ""},
		}},
		{"older token is reuse", []step{
			{"h0", "h1", time.Second, nil, "h1", "h0"},
			{"h1", "h2", 2 * time.Second, nil, "h2", "h1"},
			{"h0", "x", 3 * time.Second, redisstore.ErrSessionReuse, "", ""},
		}},
		{"orphan of a concurrent refresh is unknown", []step{
			{"h0", "h1", time.Second, nil, "h1", "h0"},
			{"h0", "h1b", 2 * time.Second, nil, "h1b", "h0"},
			{"h1", "x", 3 * time.Second, redisstore.ErrSessionNotFound, "h1b", "h0"},
		}},
		{"unknown hash changes nothing", []step{
			{"zz", "x", time.Second, redisstore.ErrSessionNotFound, "h0", ""},
			{"h0", "h1", 2 * time.Second, nil, "h1", "h0"},
		}},
		{"idle session ends", []step{
			{"h0", "h1", 7*24*time.Hour + time.Second, redisstore.ErrSessionNotFound, "", ""},
		}},
		{"absolute lifetime ends", []step{
			{"h0", "h1", 6 * 24 * time.Hour, nil, "h1", "h0"},
			{"h1", "h2", 12 * 24 * time.Hour, nil, "h2", "h1"},
			{"h2", "h3", 18 * 24 * time.Hour, nil, "h3", "h2"},
			{"h3", "h4", 24 * 24 * time.Hour, nil, "h4", "h3"},
			{"h4", "h5", 30 * 24 * time.Hour, redisstore.ErrSessionNotFound, "", ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sid := "rot-" + tc.name
			if err := s.Create(ctx, newSession(sid, "alice")); err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.steps {
				got, err := s.Rotate(ctx, sid, st.presented, st.next, at(st.at), grace)
				if !errors.Is(err, st.err) || (st.err == nil && err != nil) {
					t.Fatalf("step %d: err %v, want %v", i, err, st.err)
				}
				if st.err == nil && (got.RefreshHash != st.cur || got.PreviousHash != st.prev || !got.LastUsed.Equal(at(st.at))) {
					t.Fatalf("step %d: %+v", i, got)
				}
				if st.cur != "" && st.err != nil {
					if cur, _ := s.Get(ctx, sid); cur.RefreshHash != st.cur || cur.PreviousHash != st.prev {
						t.Fatalf("step %d changed the session: %+v", i, cur)
					}
				}
			}
		})
	}
	t.Run("history is bounded", func(t *testing.T) {
		s.Create(ctx, newSession("hist", "alice"))
		prev := "h0"
		for i := 1; i <= redisstore.SessionHistory+2; i++ {
			next := fmt.Sprint("h", i)
			if _, err := s.Rotate(ctx, "hist", prev, next, at(time.Duration(i)*time.Minute), grace); err != nil {
				t.Fatal(err)
			}
			prev = next
		}
		// h0 and h1 fell out of the history: unknown, not reuse.
		if _, err := s.Rotate(ctx, "hist", "h0", "x", at(time.Hour), grace); !errors.Is(err, redisstore.ErrSessionNotFound) {
			t.Errorf("forgotten token: %v", err)
		}
		if _, err := s.Rotate(ctx, "hist", "h2", "x", at(time.Hour), grace); !errors.Is(err, redisstore.ErrSessionReuse) {
			t.Errorf("remembered token: %v", err)
		}
	})
}

// TestSessionsConcurrentRotate: 16 goroutines rotate with the same hash at once: all succeed, the
// session ends with one of their hashes current and the presented one as predecessor.
func TestSessionsConcurrentRotate(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	s := redisstore.NewSessions(r.Client(t))
	ctx := context.Background()
	s.Create(ctx, newSession("c", "alice"))
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.Rotate(ctx, "c", "h0", fmt.Sprint("n", i), sessT0.Add(time.Second), 10*time.Second)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	got, _ := s.Get(ctx, "c")
	if got.PreviousHash != "h0" || len(got.RefreshHash) < 2 || got.RefreshHash[0] != 'n' {
		t.Errorf("after: %+v", got)
	}
}
