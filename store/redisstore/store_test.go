package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The store satisfies the contract its users declare.
var _ storetest.Log = (*redisstore.Store)(nil)

func TestConformance(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Log {
		// One server for the whole suite; each subtest gets its own keys.
		return redisstore.New(client, redisstore.WithPrefix(t.Name()), redisstore.WithClock(now),
			redisstore.WithBatchSize(7))
	})
}

func TestConformanceDefaultBatch(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Log {
		return redisstore.New(client, redisstore.WithPrefix(t.Name()), redisstore.WithClock(now))
	})
}

func fixedClock() time.Time { return storetest.Epoch }

func snapshotAll(t *testing.T, s *redisstore.Store) ([]events.Revocation, uint64) {
	t.Helper()
	var out []events.Revocation
	head, err := s.Snapshot(context.Background(), func(b []events.Revocation) error {
		out = append(out, b...)
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return out, head
}

// TestKill9 appends with AOF appendfsync always, kills redis-server with SIGKILL, restarts it on
// the same data, and finds every acknowledged append, with the counter continuing densely.
func TestKill9(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always"})
	s := redisstore.New(r.Client(t), redisstore.WithClock(fixedClock))
	ctx := context.Background()
	var acked []events.Revocation
	for i := 0; len(acked) < 300; i++ {
		batch := []events.Revocation{storetest.Rev(fmt.Sprintf("k9-%d", i), time.Hour)}
		if i%10 == 0 {
			for j := range 20 {
				batch = append(batch, storetest.Rev(fmt.Sprintf("k9-%d-%d", i, j), time.Hour))
			}
		}
		if err := s.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, batch...)
	}
	r.Kill(t)
	r.Restart(t)
	s = redisstore.New(r.Client(t), redisstore.WithClock(fixedClock))
	got, head := snapshotAll(t, s)
	if head != uint64(len(acked)) {
		t.Fatalf("head after kill -9 = %d, want %d", head, len(acked))
	}
	if len(got) != len(acked) {
		t.Fatalf("%d entries after kill -9, want %d", len(got), len(acked))
	}
	for i := range got {
		if !storetest.Equal(got[i], acked[i]) {
			t.Fatalf("entry %d after kill -9 = %+v, want %+v", i, got[i], acked[i])
		}
	}
	next := []events.Revocation{storetest.Rev("after-restart", time.Hour)}
	if err := s.Append(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next[0].Seq != uint64(len(acked))+1 {
		t.Fatalf("first seq after restart = %d, want %d", next[0].Seq, len(acked)+1)
	}
}

// TestDuplicate: an identical revocation appended again (a retry) is stored again under its new
// sequence: nothing is lost, nothing moves, the sequence stays dense, and both copies expire.
func TestDuplicate(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	s := redisstore.New(r.Client(t), redisstore.WithClock(fixedClock))
	ctx := context.Background()
	a := storetest.Rev("dup", time.Hour)
	first := []events.Revocation{a}
	if err := s.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := []events.Revocation{storetest.Rev("other", time.Hour), a, a}
	if err := s.Append(ctx, again); err != nil {
		t.Fatal(err)
	}
	if first[0].Seq != 1 || again[0].Seq != 2 || again[1].Seq != 3 || again[2].Seq != 4 {
		t.Fatalf("seqs = %d, %v; want 1, [2 3 4]", first[0].Seq, []uint64{again[0].Seq, again[1].Seq, again[2].Seq})
	}
	got, head := snapshotAll(t, s)
	if head != 4 || len(got) != 4 {
		t.Fatalf("after duplicates: head %d, entries %+v", head, got)
	}
	for i, want := range append(first, again...) {
		if !storetest.Equal(got[i], want) {
			t.Fatalf("entry %d = %+v, want %+v", i, got[i], want)
		}
	}
	n, err := s.Sweep(ctx, storetest.Epoch.Add(2*time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("Sweep = %d, %v; want 4", n, err)
	}
}

// TestMemberEncoding: the stored member is exactly events' encoding of the entry with its Seq, so
// any reader of the wire format can read the log.
func TestMemberEncoding(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	s := redisstore.New(client, redisstore.WithClock(fixedClock))
	ctx := context.Background()
	client.Set(ctx, "{revocast}:seq", 999_999_999_999_998, 0) // past Lua's 14-digit number format
	recs := []events.Revocation{storetest.Rev("enc-1", time.Hour), storetest.Rev("enc-2", time.Hour)}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	members, err := client.ZRangeWithScores(ctx, "{revocast}:log", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 {
		t.Fatalf("%d members", len(members))
	}
	for i, z := range members {
		if want := string(recs[i].AppendJSON(nil)); z.Member != want || uint64(z.Score) != recs[i].Seq {
			t.Fatalf("member %d = %v @ %v, want %s @ %d", i, z.Member, z.Score, want, recs[i].Seq)
		}
	}
	if recs[1].Seq != 1_000_000_000_000_000 {
		t.Fatalf("seq = %d", recs[1].Seq)
	}
}

// TestCorruptEntry: an entry that does not decode is skipped, counted and reported, and the rest of
// the snapshot and of After is delivered.
func TestCorruptEntry(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	var reported []error
	s := redisstore.New(client, redisstore.WithClock(fixedClock), redisstore.WithBatchSize(2),
		redisstore.WithErrorHandler(func(err error) { reported = append(reported, err) }))
	ctx := context.Background()
	recs := []events.Revocation{storetest.Rev("a", time.Hour), storetest.Rev("b", time.Hour), storetest.Rev("c", time.Hour)}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Replace seq 2 by garbage and add seq 4 written by a "newer version".
	client.ZRemRangeByScore(ctx, "{revocast}:log", "2", "2")
	client.ZAdd(ctx, "{revocast}:log", redis.Z{Score: 2, Member: "{not json"})
	v2 := strings.Replace(string(recs[0].AppendJSON(nil)), `"v":1`, `"v":2`, 1)
	client.ZAdd(ctx, "{revocast}:log", redis.Z{Score: 4, Member: v2})
	client.Set(ctx, "{revocast}:seq", 4, 0)

	got, head := snapshotAll(t, s)
	if head != 4 || len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
		t.Fatalf("Snapshot = %+v head %d; want a and c, head 4", got, head)
	}
	if len(reported) != 2 || s.Corrupt() != 2 {
		t.Fatalf("reported %v, Corrupt() = %d; want 2 and 2", reported, s.Corrupt())
	}
	for _, err := range reported {
		if !errors.Is(err, redisstore.ErrCorrupt) {
			t.Fatalf("reported %v, want ErrCorrupt", err)
		}
		if strings.Contains(err.Error(), "not json") {
			t.Fatalf("reported error quotes the entry: %v", err)
		}
	}
	if !errors.Is(reported[0], events.ErrMalformed) || !errors.Is(reported[1], events.ErrVersion) {
		t.Fatalf("reported %v, want ErrMalformed then ErrVersion", reported)
	}
	after, head, err := s.After(ctx, 0, 2)
	if err != nil || head != 4 || len(after) != 2 || after[1].ID != "c" {
		t.Fatalf("After = %+v, %d, %v; want a and c", after, head, err)
	}
	if s.Corrupt() != 3 {
		t.Fatalf("Corrupt() = %d after After, want 3", s.Corrupt())
	}
}

// TestSeqLimit: sequences are exact up to MaxSeq (float64 scores, Lua numbers), and Append refuses
// to pass it without appending anything.
func TestSeqLimit(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	s := redisstore.New(client, redisstore.WithClock(fixedClock))
	ctx := context.Background()
	client.Set(ctx, "{revocast}:seq", redisstore.MaxSeq-3, 0)
	batch := []events.Revocation{storetest.Rev("x", time.Hour), storetest.Rev("y", time.Hour)}
	if err := s.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if batch[0].Seq != redisstore.MaxSeq-2 || batch[1].Seq != redisstore.MaxSeq-1 {
		t.Fatalf("seqs %d %d", batch[0].Seq, batch[1].Seq)
	}
	over := []events.Revocation{storetest.Rev("p", time.Hour), storetest.Rev("q", time.Hour)}
	if err := s.Append(ctx, over); !errors.Is(err, redisstore.ErrSeqOverflow) {
		t.Fatalf("Append past MaxSeq = %v, want ErrSeqOverflow", err)
	}
	last := []events.Revocation{storetest.Rev("z", time.Hour)}
	if err := s.Append(ctx, last); err != nil || last[0].Seq != redisstore.MaxSeq {
		t.Fatalf("Append up to MaxSeq = %v, seq %d", err, last[0].Seq)
	}
	got, head := snapshotAll(t, s)
	if head != redisstore.MaxSeq || len(got) != 3 || got[0].Seq != redisstore.MaxSeq-2 || got[2].Seq != redisstore.MaxSeq || got[2].ID != "z" {
		t.Fatalf("Snapshot near MaxSeq = %+v, head %d", got, head)
	}
	after, _, err := s.After(ctx, redisstore.MaxSeq-2, 10)
	if err != nil || len(after) != 2 || after[0].Seq != redisstore.MaxSeq-1 || after[1].Seq != redisstore.MaxSeq {
		t.Fatalf("After near MaxSeq = %+v, %v", after, err)
	}
	if err := s.Append(ctx, last); !errors.Is(err, redisstore.ErrSeqOverflow) {
		t.Fatalf("Append at MaxSeq = %v, want ErrSeqOverflow", err)
	}
}

// TestKeys: every key carries the prefix's hash tag, and two prefixes do not see each other.
func TestKeys(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	ctx := context.Background()
	a := redisstore.New(client, redisstore.WithPrefix("tenant-a"), redisstore.WithClock(fixedClock))
	b := redisstore.New(client, redisstore.WithClock(fixedClock))
	if err := a.Append(ctx, []events.Revocation{storetest.Rev("x", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sorted(keys), " "); got != "{tenant-a}:exp {tenant-a}:log {tenant-a}:seq" {
		t.Fatalf("keys = %s", got)
	}
	if h, err := b.Head(ctx); err != nil || h != 0 {
		t.Fatalf("other prefix Head = %d, %v", h, err)
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestRedisDown: with the server gone, every call fails; none reports a false success.
func TestRedisDown(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	s := redisstore.New(client, redisstore.WithClock(fixedClock))
	ctx := context.Background()
	if err := s.Append(ctx, []events.Revocation{storetest.Rev("x", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r.Stop(t)
	recs := []events.Revocation{storetest.Rev("y", time.Hour)}
	if err := s.Append(ctx, recs); err == nil || recs[0].Seq != 0 {
		t.Fatalf("Append with redis down = %v, seq %d", err, recs[0].Seq)
	}
	if _, err := s.Head(ctx); err == nil {
		t.Fatal("Head with redis down succeeded")
	}
	if _, err := s.Snapshot(ctx, func([]events.Revocation) error { return nil }); err == nil {
		t.Fatal("Snapshot with redis down succeeded")
	}
	if _, _, err := s.After(ctx, 0, 1); err == nil {
		t.Fatal("After with redis down succeeded")
	}
	if _, err := s.Sweep(ctx, time.Now()); err == nil {
		t.Fatal("Sweep with redis down succeeded")
	}
}

// TestSnapshotBatches: fn gets batches of at most the batch size, in order, across page boundaries
// where dead entries thin the pages out.
func TestSnapshotBatches(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	s := redisstore.New(r.Client(t), redisstore.WithClock(fixedClock), redisstore.WithBatchSize(4))
	ctx := context.Background()
	var recs []events.Revocation
	for i := range 23 {
		rv := storetest.Rev(fmt.Sprintf("s-%d", i), time.Hour)
		if i%4 == 0 {
			rv.RevokedAt = storetest.Epoch.Add(-time.Hour)
			rv.DropAfter = storetest.Epoch // dead at the store's clock
		}
		recs = append(recs, rv)
	}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	_, err := s.Snapshot(ctx, func(b []events.Revocation) error {
		if len(b) == 0 || len(b) > 4 {
			t.Errorf("batch of %d", len(b))
		}
		for _, r := range b {
			seen = append(seen, r.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for i := range 23 {
		if i%4 != 0 {
			want = append(want, uint64(i+1))
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("seen %v, want %v", seen, want)
	}
}

// TestSnapshotParallelDecode: pages large enough to be decoded by several goroutines keep their
// order, skip dead entries and report a damaged one.
func TestSnapshotParallelDecode(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	client := r.Client(t)
	var reported []error
	s := redisstore.New(client, redisstore.WithClock(fixedClock), redisstore.WithBatchSize(3000),
		redisstore.WithErrorHandler(func(err error) { reported = append(reported, err) }))
	ctx := context.Background()
	const n = 7000
	recs := make([]events.Revocation, n)
	for i := range recs {
		recs[i] = storetest.Rev(fmt.Sprintf("par-%d", i), time.Hour)
		if i%7 == 3 {
			recs[i].RevokedAt = storetest.Epoch.Add(-time.Hour)
			recs[i].DropAfter = storetest.Epoch
		}
	}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	client.ZRemRangeByScore(ctx, "{revocast}:log", "4500", "4500")
	client.ZAdd(ctx, "{revocast}:log", redis.Z{Score: 4500, Member: `{"v":1,"seq":4500,"kind":"nope"}`})
	got, head := snapshotAll(t, s)
	var want []events.Revocation
	for i, r := range recs {
		if i%7 != 3 && r.Seq != 4500 {
			want = append(want, r)
		}
	}
	if head != n || len(got) != len(want) {
		t.Fatalf("head %d, %d entries; want %d, %d", head, len(got), n, len(want))
	}
	for i := range got {
		if !storetest.Equal(got[i], want[i]) {
			t.Fatalf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(reported) != 1 || !errors.Is(reported[0], events.ErrKind) || !strings.Contains(reported[0].Error(), "after seq 4499") {
		t.Fatalf("reported %v", reported)
	}
}
