package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
)

// Log is the durable revocation log under test: the methods the revoker and the subscriber declare,
// plus Sweep.
type Log interface {
	// Append durably appends recs in order, assigning each the next sequence number of one dense counter
	// shared by every writer (recs[i].Seq is set on success). Validate each first; all-or-nothing.
	// It returns only after Redis acknowledged the write (durability as configured in Redis: AOF appendfsync always for no loss on kill -9).
	Append(ctx context.Context, recs []events.Revocation) error
	// Head returns the highest sequence assigned so far (0 for an empty log).
	Head(ctx context.Context) (uint64, error)
	// Snapshot reads the head first, then streams every live entry (DropAfter after now) with seq <= head to fn in batches, in increasing seq order; it returns that head. fn must not retain the batch slice.
	Snapshot(ctx context.Context, fn func(batch []events.Revocation) error) (head uint64, err error)
	// After returns up to limit live entries with seq > after, in increasing order, and a head read atomically with them (or before them), so that when len(recs) < limit the caller has seen every live entry with seq <= head.
	After(ctx context.Context, after uint64, limit int) (recs []events.Revocation, head uint64, err error)
	// Sweep removes entries whose DropAfter is before now (never one still live) and returns how many.
	Sweep(ctx context.Context, now time.Time) (removed int, err error)
}

// Granularity is the resolution of expiry a store may have: Sweep(now) must remove every entry whose
// DropAfter is at least Granularity before now. (It must never remove one whose DropAfter is after
// now, whatever its resolution.)
const Granularity = time.Second

// Epoch is the time the suite's clock starts at for every subtest.
var Epoch = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// Clock is the fake clock the suite drives; a store under test must read the time only from it.
// It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (backwards too).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Run runs the conformance suite. newLog must return a new, empty log whose clock is now (the store
// must use it for every expiry decision: Snapshot's and After's liveness filter and the removal
// inside Append). Each subtest calls newLog once; newLog should register its cleanup with t.Cleanup.
func Run(t *testing.T, newLog func(t *testing.T, now func() time.Time) Log) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l Log, c *Clock)
	}{
		{"DenseSequenceConcurrentAppenders", testDenseConcurrent},
		{"AppendAllOrNothing", testAllOrNothing},
		{"AppendBatchOrder", testBatchOrder},
		{"HeadEmpty", testHeadEmpty},
		{"SnapshotExact", testSnapshotExact},
		{"SnapshotConcurrentAppends", testSnapshotConcurrent},
		{"SnapshotCallbackError", testSnapshotCallbackError},
		{"AfterPagination", testAfterPagination},
		{"ExpirySweep", testExpirySweep},
		{"ExpiryInsideAppend", testExpiryAppend},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Clock{now: Epoch}
			tc.fn(t, newLog(t, c.Now), c)
		})
	}
}

// Rev returns a valid token revocation with id, revoked at Epoch and dropped after Epoch+ttl, with
// the realistic field sizes the benchmarks use.
func Rev(id string, ttl time.Duration) events.Revocation {
	return events.Revocation{
		Kind:      events.KindToken,
		ID:        id,
		RevokedAt: Epoch,
		DropAfter: Epoch.Add(ttl),
		Reason:    "logout",
		Origin:    "issuer-1",
	}
}

// Equal reports whether a and b are the same revocation (times compared with Equal).
func Equal(a, b events.Revocation) bool {
	return a.Seq == b.Seq && a.Kind == b.Kind && a.ID == b.ID && a.RevokedAt.Equal(b.RevokedAt) &&
		a.NotBefore.Equal(b.NotBefore) && a.DropAfter.Equal(b.DropAfter) && a.Reason == b.Reason &&
		a.Origin == b.Origin
}

// snapshot collects a whole Snapshot, checking the order and the head bound.
func snapshot(t *testing.T, l Log) ([]events.Revocation, uint64) {
	t.Helper()
	var out []events.Revocation
	head, err := l.Snapshot(context.Background(), func(batch []events.Revocation) error {
		if len(batch) == 0 {
			return errors.New("empty batch")
		}
		out = append(out, batch...)
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	for i, r := range out {
		if r.Seq == 0 || r.Seq > head {
			t.Fatalf("Snapshot entry %d has seq %d, head %d", i, r.Seq, head)
		}
		if i > 0 && r.Seq <= out[i-1].Seq {
			t.Fatalf("Snapshot out of order: seq %d after %d", r.Seq, out[i-1].Seq)
		}
	}
	return out, head
}

func mustAppend(t *testing.T, l Log, recs ...events.Revocation) []events.Revocation {
	t.Helper()
	if err := l.Append(context.Background(), recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	return recs
}

func mustHead(t *testing.T, l Log) uint64 {
	t.Helper()
	h, err := l.Head(context.Background())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

func wantEntries(t *testing.T, what string, got, want []events.Revocation) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d entries %v, want %d %v", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range got {
		if !Equal(got[i], want[i]) {
			t.Fatalf("%s: entry %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func seqs(rs []events.Revocation) []uint64 {
	s := make([]uint64, len(rs))
	for i, r := range rs {
		s[i] = r.Seq
	}
	return s
}

func testHeadEmpty(t *testing.T, l Log, _ *Clock) {
	if h := mustHead(t, l); h != 0 {
		t.Fatalf("Head of an empty log = %d, want 0", h)
	}
	got, head := snapshot(t, l)
	if len(got) != 0 || head != 0 {
		t.Fatalf("Snapshot of an empty log = %d entries, head %d", len(got), head)
	}
	recs, head, err := l.After(context.Background(), 0, 10)
	if err != nil || len(recs) != 0 || head != 0 {
		t.Fatalf("After(0) on an empty log = %d entries, head %d, %v", len(recs), head, err)
	}
}

func testDenseConcurrent(t *testing.T, l Log, _ *Clock) {
	const writers, each = 8, 200
	var wg sync.WaitGroup
	got := make([][]uint64, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				recs := []events.Revocation{Rev(fmt.Sprintf("w%d-%d", w, i), time.Hour)}
				if err := l.Append(context.Background(), recs); err != nil {
					errs <- err
					return
				}
				if n := len(got[w]); n > 0 && recs[0].Seq <= got[w][n-1] {
					errs <- fmt.Errorf("writer %d: seq %d after %d", w, recs[0].Seq, got[w][n-1])
					return
				}
				got[w] = append(got[w], recs[0].Seq)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make([]bool, writers*each+1)
	for _, ss := range got {
		for _, s := range ss {
			if s == 0 || s > writers*each || seen[s] {
				t.Fatalf("seq %d out of range or assigned twice", s)
			}
			seen[s] = true
		}
	}
	if h := mustHead(t, l); h != writers*each {
		t.Fatalf("Head = %d, want %d", h, writers*each)
	}
	snap, head := snapshot(t, l)
	if head != writers*each || len(snap) != writers*each {
		t.Fatalf("Snapshot: %d entries, head %d, want %d", len(snap), head, writers*each)
	}
	for i, r := range snap {
		if r.Seq != uint64(i+1) {
			t.Fatalf("Snapshot entry %d has seq %d: not dense", i, r.Seq)
		}
	}
}

func testAllOrNothing(t *testing.T, l Log, _ *Clock) {
	mustAppend(t, l, Rev("first", time.Hour))
	bad := []events.Revocation{Rev("ok-1", time.Hour), Rev("has space", time.Hour), Rev("ok-2", time.Hour)}
	noDrop := Rev("ok-3", time.Hour)
	noDrop.DropAfter = time.Time{}
	for _, recs := range [][]events.Revocation{bad, {noDrop}, {Rev("ok-4", time.Hour), {Kind: 99}}} {
		err := l.Append(context.Background(), recs)
		if err == nil {
			t.Fatalf("Append(%v) succeeded, want a validation error", recs)
		}
		for i, r := range recs {
			if r.Seq != 0 {
				t.Fatalf("failed Append set recs[%d].Seq = %d", i, r.Seq)
			}
		}
	}
	if h := mustHead(t, l); h != 1 {
		t.Fatalf("Head after rejected appends = %d, want 1", h)
	}
	snap, _ := snapshot(t, l)
	if len(snap) != 1 || snap[0].ID != "first" {
		t.Fatalf("Snapshot after rejected appends = %+v", snap)
	}
	// Nothing (an empty batch) is fine and assigns nothing.
	if err := l.Append(context.Background(), nil); err != nil {
		t.Fatalf("Append(nil) = %v", err)
	}
	if h := mustHead(t, l); h != 1 {
		t.Fatalf("Head after Append(nil) = %d, want 1", h)
	}
}

func testBatchOrder(t *testing.T, l Log, _ *Clock) {
	mustAppend(t, l, Rev("a", time.Hour))
	batch := make([]events.Revocation, 50)
	for i := range batch {
		batch[i] = Rev(fmt.Sprintf("b-%d", i), time.Hour)
	}
	mustAppend(t, l, batch...)
	for i, r := range batch {
		if r.Seq != uint64(i+2) {
			t.Fatalf("batch[%d].Seq = %d, want %d", i, r.Seq, i+2)
		}
	}
	snap, head := snapshot(t, l)
	if head != 51 {
		t.Fatalf("head = %d, want 51", head)
	}
	wantEntries(t, "Snapshot", snap[1:], batch)
}

func testSnapshotExact(t *testing.T, l Log, c *Clock) {
	var want []events.Revocation
	sub := events.Revocation{Kind: events.KindSubject, ID: "user-42", RevokedAt: Epoch,
		NotBefore: Epoch.Add(-time.Microsecond), DropAfter: Epoch.Add(2 * time.Hour), Reason: "logout_all",
		Origin: "admin"}
	all := events.Revocation{Kind: events.KindAll, RevokedAt: Epoch.Add(time.Second).In(time.FixedZone("X", 3600)),
		NotBefore: Epoch.Add(time.Second), DropAfter: Epoch.Add(3 * time.Hour)}
	sess := events.Revocation{Kind: events.KindSession, ID: "sid-ünïcode-\"q\"", RevokedAt: Epoch.Add(123456789),
		DropAfter: Epoch.Add(time.Hour + 987654321), Reason: "refresh reuse\n"}
	want = append(want, mustAppend(t, l, sub, all)...)
	want = append(want, mustAppend(t, l, sess)...)
	// An entry that is already dead at the clock's time is not returned.
	dead := Rev("dead", time.Hour)
	dead.RevokedAt = Epoch.Add(-2 * time.Hour)
	dead.DropAfter = Epoch.Add(-time.Hour)
	mustAppend(t, l, dead)
	want = append(want, mustAppend(t, l, Rev("tok-1", time.Hour), Rev("tok-2", time.Minute))...)

	snap, head := snapshot(t, l)
	if head != 6 {
		t.Fatalf("head = %d, want 6", head)
	}
	wantEntries(t, "Snapshot", snap, want)

	// An entry whose DropAfter equals now is no longer live; one nanosecond before, it is.
	c.Set(Epoch.Add(time.Minute - time.Nanosecond))
	snap, _ = snapshot(t, l)
	wantEntries(t, "Snapshot 1ns before tok-2's DropAfter", snap, want)
	c.Set(Epoch.Add(time.Minute))
	snap, _ = snapshot(t, l)
	wantEntries(t, "Snapshot at tok-2's DropAfter", snap, want[:len(want)-1])
}

func testSnapshotConcurrent(t *testing.T, l Log, _ *Clock) {
	mustAppend(t, l, Rev("before", time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				batch := []events.Revocation{Rev(fmt.Sprintf("c%d-%d-a", w, i), time.Hour), Rev(fmt.Sprintf("c%d-%d-b", w, i), time.Hour)}
				if err := l.Append(ctx, batch); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	// Snapshot until two snapshots in a row saw different heads (appends really ran concurrently)
	// and at least five were taken.
	var prev uint64
	changed := 0
	for i := 0; i < 5 || changed < 2; i++ {
		if i == 10000 {
			t.Fatal("the head never moved while appenders ran")
		}
		snap, head := snapshot(t, l)
		if head != prev {
			changed++
			prev = head
		}
		if uint64(len(snap)) != head {
			t.Fatalf("Snapshot with head %d has %d entries, want every entry 1..head", head, len(snap))
		}
		for i, r := range snap {
			if r.Seq != uint64(i+1) {
				t.Fatalf("Snapshot entry %d has seq %d", i, r.Seq)
			}
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testSnapshotCallbackError(t *testing.T, l Log, _ *Clock) {
	mustAppend(t, l, Rev("x", time.Hour), Rev("y", time.Hour))
	boom := errors.New("boom")
	calls := 0
	_, err := l.Snapshot(context.Background(), func([]events.Revocation) error { calls++; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Snapshot with a failing callback = %v, want %v", err, boom)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after failing, want 1", calls)
	}
}

func testAfterPagination(t *testing.T, l Log, c *Clock) {
	var all []events.Revocation
	for i := range 10 {
		ttl := time.Hour
		if i%3 == 1 {
			ttl = time.Minute // seqs 2, 5, 8 die first
		}
		all = append(all, mustAppend(t, l, Rev(fmt.Sprintf("p-%d", i), ttl))...)
	}
	ctx := context.Background()
	var got []events.Revocation
	after := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("After did not finish in 10 pages of 3")
		}
		recs, head, err := l.After(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if head != 10 {
			t.Fatalf("After head = %d, want 10", head)
		}
		if len(recs) > 3 {
			t.Fatalf("After(limit 3) returned %d", len(recs))
		}
		for _, r := range recs {
			if r.Seq <= after || r.Seq > head {
				t.Fatalf("After(%d) returned seq %d (head %d)", after, r.Seq, head)
			}
			after = r.Seq
		}
		got = append(got, recs...)
		if len(recs) < 3 {
			break
		}
	}
	wantEntries(t, "After pages", got, all)

	recs, head, err := l.After(ctx, 10, 5)
	if err != nil || len(recs) != 0 || head != 10 {
		t.Fatalf("After(head) = %d entries, head %d, %v; want none, 10", len(recs), head, err)
	}
	recs, _, err = l.After(ctx, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantEntries(t, "After(4, 2)", recs, all[4:6])

	// Once 2, 5 and 8 are dead they are skipped, yet a short page still means "everything seen":
	// with limit 1 every page must hold the next live entry.
	c.Set(Epoch.Add(time.Minute))
	var live []events.Revocation
	for i, r := range all {
		if i%3 != 1 {
			live = append(live, r)
		}
	}
	got, after = nil, 0
	for {
		recs, _, err := l.After(ctx, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		got = append(got, recs...)
		after = recs[0].Seq
	}
	wantEntries(t, "After(limit 1) with dead entries", got, live)
}

func testExpirySweep(t *testing.T, l Log, c *Clock) {
	ctx := context.Background()
	exp1 := Rev("exp-1", time.Minute)
	exp2 := Rev("exp-2", time.Minute+time.Nanosecond)
	edge := Rev("edge", 5*time.Minute)
	live := Rev("live", 10*time.Minute)
	frac := Rev("frac", 5*time.Minute+500*time.Microsecond) // not on a millisecond
	mustAppend(t, l, exp1, live, edge, exp2, frac)

	// Sweeping just before edge's and frac's DropAfter removes only what is at least a Granularity old.
	n, err := l.Sweep(ctx, Epoch.Add(5*time.Minute-time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("Sweep removed %d, want 2", n)
	}
	n, err = l.Sweep(ctx, Epoch.Add(5*time.Minute+500*time.Microsecond-time.Nanosecond))
	if err != nil || n > 1 {
		t.Fatalf("Sweep just before frac's DropAfter removed %d (%v), want edge at most", n, err)
	}
	// The physical content, seen with the clock rewound: exp-1 and exp-2 are gone, the rest is there.
	c.Set(Epoch)
	snap, head := snapshot(t, l)
	if head != 5 {
		t.Fatalf("head = %d, want 5 (expiry never moves the head)", head)
	}
	ids := make([]string, len(snap))
	for i, r := range snap {
		ids[i] = r.ID
	}
	if got := fmt.Sprint(ids); got != "[live frac]" && got != "[live edge frac]" {
		t.Fatalf("after the sweeps the log holds %s, want [live edge frac] (or [live frac])", got)
	}
	// Later on everything but live goes, and live stays until its own DropAfter.
	n2, err := l.Sweep(ctx, Epoch.Add(5*time.Minute+Granularity))
	if err != nil || n+n2 != 2 {
		t.Fatalf("second Sweep removed %d+%d (%v), want edge and frac", n, n2, err)
	}
	snap, _ = snapshot(t, l)
	if len(snap) != 1 || snap[0].ID != "live" {
		t.Fatalf("after sweeps: %+v, want only live", snap)
	}
	if n, err := l.Sweep(ctx, Epoch.Add(10*time.Minute)); err != nil || n != 0 {
		t.Fatalf("Sweep at live's DropAfter removed %d (%v); it may not (DropAfter not before now)", n, err)
	}
	if n, err := l.Sweep(ctx, Epoch.Add(10*time.Minute+Granularity)); err != nil || n != 1 {
		t.Fatalf("Sweep past live's DropAfter removed %d (%v), want 1", n, err)
	}
	if h := mustHead(t, l); h != 5 {
		t.Fatalf("Head after sweeping everything = %d, want 5", h)
	}
	mustAppend(t, l, Rev("next", time.Hour))
	if h := mustHead(t, l); h != 6 {
		t.Fatalf("Head after sweeping and appending = %d, want 6", h)
	}
}

func testExpiryAppend(t *testing.T, l Log, c *Clock) {
	ctx := context.Background()
	var batch []events.Revocation
	for i := range 20 {
		batch = append(batch, Rev(fmt.Sprintf("short-%d", i), time.Minute))
	}
	keep := mustAppend(t, l, Rev("keep", time.Hour))[0]
	mustAppend(t, l, batch...)
	c.Set(Epoch.Add(time.Minute + Granularity))
	next := Rev("next", 2*time.Hour)
	next.RevokedAt = c.Now()
	next = mustAppend(t, l, next)[0]
	n, err := l.Sweep(ctx, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n >= 20 {
		t.Fatalf("Append removed no expired entry (Sweep still found %d)", n)
	}
	c.Set(Epoch)
	snap, _ := snapshot(t, l)
	wantEntries(t, "physical content after Append and Sweep", snap, []events.Revocation{keep, next})
}

func testContextCanceled(t *testing.T, l Log, _ *Clock) {
	mustAppend(t, l, Rev("x", time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want context.Canceled", what, err)
		}
	}
	check("Append", l.Append(ctx, []events.Revocation{Rev("y", time.Hour)}))
	_, err := l.Head(ctx)
	check("Head", err)
	_, err = l.Snapshot(ctx, func([]events.Revocation) error { return nil })
	check("Snapshot", err)
	_, _, err = l.After(ctx, 0, 10)
	check("After", err)
	_, err = l.Sweep(ctx, Epoch)
	check("Sweep", err)
	if h := mustHead(t, l); h != 1 {
		t.Fatalf("Head after a canceled Append = %d, want 1", h)
	}

	// Canceled while the callback runs: Snapshot stops with the context's error.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, err = l.Snapshot(ctx, func([]events.Revocation) error { cancel(); return ctx.Err() })
	check("Snapshot canceled in its callback", err)
}
