package subscriber

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revocast/revocast/events"
)

// TestTableMatchesMap drives the table with random puts (new keys, repeated keys with larger and
// smaller values, keys that share their home slot), growth and expiry rebuilds, and compares every
// lookup with a plain map that keeps the largest value.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := newTable(0)
	model := map[uint64]int64{}
	randKey := func() uint64 {
		switch rng.IntN(3) {
		case 0: // a small key space: many repeats
			return uint64(rng.IntN(3)+1)<<62 | uint64(rng.IntN(500)+1)
		case 1: // the same home slot (low bits) for every key, to make long probe chains that wrap
			return uint64(rng.IntN(3)+1)<<62 | uint64(rng.IntN(64))<<40 | uint64(len(tab.slots)-1)
		default:
			return uint64(rng.IntN(3)+1)<<62 | rng.Uint64()>>2
		}
	}
	check := func(step int) {
		t.Helper()
		if tab.count != len(model) {
			t.Fatalf("step %d: count %d, model %d", step, tab.count, len(model))
		}
		for k, want := range model {
			if got, ok := tab.get(k); !ok || got != want {
				t.Fatalf("step %d: get(%#x) = %d, %v; want %d", step, k, got, ok, want)
			}
		}
		for range 200 {
			k := uint64(3)<<62 | rng.Uint64()>>2 | 1<<61 // small and same-home keys have bit 61 clear
			if _, inModel := model[k]; inModel {
				continue
			}
			if _, ok := tab.get(k); ok {
				t.Fatalf("step %d: get(%#x) found a key never stored", step, k)
			}
		}
	}
	for step := range 12_000 {
		k, v := randKey(), rng.Int64N(1000)
		if tab.full() {
			size := len(tab.slots)
			tab = tab.rebuilt(func(uint64, int64) bool { return true })
			if len(tab.slots) <= size {
				t.Fatalf("growth from %d slots gave %d", size, len(tab.slots))
			}
		}
		isNew := tab.put(k, v)
		old, had := model[k]
		if isNew == had {
			t.Fatalf("step %d: put reported new=%v for a key the model had=%v", step, isNew, had)
		}
		model[k] = max(old, v)
		if !had {
			model[k] = v
		}
		if step%3000 == 2999 { // expiry: drop every value below a threshold
			check(step)
			cut := rng.Int64N(500)
			tab = tab.rebuilt(func(_ uint64, v int64) bool { return v >= cut })
			for k, v := range model {
				if v < cut {
					delete(model, k)
				}
			}
			if tab.count*2 > len(tab.slots) {
				t.Fatalf("a rebuilt table is more than half full: %d of %d", tab.count, len(tab.slots))
			}
		}
	}
	check(-1)
}

// TestTableConcurrentReaders: while one writer inserts, grows and publishes new tables the way the
// apply goroutine does, readers never miss a key whose insertion has completed, and never see a
// value lower than the one stored. Run with -race.
func TestTableConcurrentReaders(t *testing.T) {
	var (
		ptr  atomic.Pointer[table]
		done atomic.Uint64 // keys 1..done are stored
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	ptr.Store(newTable(0))
	key := func(i uint64) uint64 { return uint64(events.KindToken)<<62 | i*0x9e3779b97f4a7c15>>2 }
	errs := make(chan error, 4)
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := done.Load()
				if n == 0 {
					continue
				}
				i := rng.Uint64N(n) + 1
				v, ok := ptr.Load().get(key(i))
				if !ok || v < int64(i) {
					errs <- fmt.Errorf("key %d of %d stored: get = %d, %v", i, n, v, ok)
					return
				}
			}
		})
	}
	const n = 50_000
	for i := uint64(1); i <= n; i++ {
		tab := ptr.Load()
		if tab.full() {
			tab = tab.rebuilt(func(uint64, int64) bool { return true })
			ptr.Store(tab)
		}
		tab.put(key(i), int64(i))
		if i%3 == 0 {
			tab.put(key(i/2+1), int64(i)) // raise an existing value
		}
		done.Store(i)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func TestKeyKinds(t *testing.T) {
	h := newHasher()
	for _, k := range []events.Kind{events.KindToken, events.KindSession, events.KindSubject} {
		key := h.key(k, "same-id")
		if key == 0 || keyKind(key) != k {
			t.Fatalf("key(%v) = %#x: kind bits say %v", k, key, keyKind(key))
		}
		if h.key(k, "same-id") != key {
			t.Fatal("key is not deterministic")
		}
	}
	if h.key(events.KindToken, "x") == h.key(events.KindSession, "x") {
		t.Fatal("a token and a session with the same id share a key")
	}
	if newHasher().key(events.KindToken, "x") == h.key(events.KindToken, "x") {
		t.Fatal("two hashers share a seed") // 2^-62 by chance
	}
}

// sliceSource is an in-memory Source: recs[i] has seq i+1; the snapshot holds the first snap
// entries.
type sliceSource struct {
	recs []events.Revocation
	snap int
}

func (s *sliceSource) Snapshot(_ context.Context, fn func([]events.Revocation) error) (uint64, error) {
	if err := fn(s.recs[:s.snap]); err != nil {
		return 0, err
	}
	return uint64(s.snap), nil
}

func (s *sliceSource) After(_ context.Context, after uint64, limit int) ([]events.Revocation, uint64, error) {
	if after >= uint64(len(s.recs)) {
		return nil, uint64(len(s.recs)), nil
	}
	end := min(int(after)+limit, len(s.recs))
	return s.recs[after:end], uint64(len(s.recs)), nil
}

// orderingRecs returns n revocations of every kind on few ids, so that later ones raise the
// NotBefore (subject, all) or DropAfter (token, session) of earlier ones.
func orderingRecs(rng *rand.Rand, n int) []events.Revocation {
	t0 := time.Unix(1_800_000_000, 0)
	recs := make([]events.Revocation, n)
	for i := range recs {
		at := t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		r := events.Revocation{Seq: uint64(i + 1), Kind: events.Kind(rng.IntN(4) + 1), ID: fmt.Sprintf("id-%d", rng.IntN(6)),
			RevokedAt: at, DropAfter: at.Add(time.Duration(rng.IntN(60)+1) * time.Minute)}
		if r.Kind == events.KindAll {
			r.ID = ""
		}
		if r.Kind == events.KindSubject || r.Kind == events.KindAll {
			r.NotBefore = at
		}
		recs[i] = r
	}
	return recs
}

// TestOrderingPermutations is the unit form of TestDuplicatesReorderingGaps, without servers and
// many times over: a snapshot of a prefix, then the rest delivered shuffled, with duplicates
// (including of snapshot entries) and holes, then a catch-up in small batches, gives exactly the
// state of in-order delivery: the same answers for every probe, the same entry counts and expiry
// times, everything applied, no gap left open, and OnRevoke told of each post-snapshot
// revocation exactly once.
func TestOrderingPermutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		n := rng.IntN(60) + 1
		recs := orderingRecs(rng, n)
		src := &sliceSource{recs: recs, snap: rng.IntN(n + 1)}

		ref, err := New(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			ref.insert(&recs[i])
		}

		reported := map[uint64]int{}
		s, err := New(nil, src, WithCatchUpBatch(rng.IntN(5)+1),
			WithOnRevoke(func(r events.Revocation) { reported[r.Seq]++ }))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		var order []events.Revocation
		for _, r := range recs {
			switch rng.IntN(4) {
			case 0: // a hole
			case 1:
				order = append(order, r, r)
			default:
				order = append(order, r)
			}
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for i := range order {
			s.applyEvent(&order[i])
		}
		if err := s.catchUp(ReasonGap); err != nil {
			t.Fatal(err)
		}

		name := fmt.Sprintf("trial %d (n %d, snapshot %d)", trial, n, src.snap)
		if got := s.applied.Load(); got != uint64(n) {
			t.Fatalf("%s: applied %d", name, got)
		}
		if len(s.received) != 0 || !s.gapSince.IsZero() {
			t.Fatalf("%s: gap left open: %d received above applied", name, len(s.received))
		}
		for q := uint64(src.snap + 1); q <= uint64(n); q++ {
			if reported[q] != 1 {
				t.Fatalf("%s: seq %d reported %d times to OnRevoke", name, q, reported[q])
			}
		}
		if len(reported) != n-src.snap {
			t.Fatalf("%s: OnRevoke told of %d revocations, want %d", name, len(reported), n-src.snap)
		}
		sameState(t, name, s, ref, recs)
	}
}

// sameState fails unless s and ref answer every probe around recs alike and hold the same entries
// with the same expiry.
func sameState(t *testing.T, name string, s, ref *Subscriber, recs []events.Revocation) {
	t.Helper()
	if got, want := fmt.Sprint(s.Stats().Entries), fmt.Sprint(ref.Stats().Entries); got != want {
		t.Fatalf("%s: entries %s, in order %s", name, got, want)
	}
	if s.allNB.Load() != ref.allNB.Load() || s.allDrop != ref.allDrop {
		t.Fatalf("%s: kind all differs", name)
	}
	for i := range recs {
		for _, probe := range probes(recs[i]) {
			got, want := s.Check(probe), ref.Check(probe)
			if !errors.Is(got, want) && got != want {
				t.Fatalf("%s: Check(%+v) = %v, in order %v", name, probe, got, want)
			}
			want2 := false
			for _, q := range recs {
				want2 = want2 || q.Matches(probe.ID, probe.SessionID, probe.Subject, probe.IssuedAt)
			}
			if (got != nil) != want2 {
				t.Fatalf("%s: Check(%+v) = %v, events.Matches says revoked=%v", name, probe, got, want2)
			}
		}
		for _, kind := range []events.Kind{events.KindToken, events.KindSession, events.KindSubject} {
			k := s.h.key(kind, recs[i].ID)
			v1, ok1 := s.tab.Load().get(k)
			v2, ok2 := ref.tab.Load().get(ref.h.key(kind, recs[i].ID))
			if ok1 != ok2 || v1 != v2 {
				t.Fatalf("%s: %v %q = %d,%v; in order %d,%v", name, kind, recs[i].ID, v1, ok1, v2, ok2)
			}
			if kind == events.KindSubject && s.subjDrop[k] != ref.subjDrop[ref.h.key(kind, recs[i].ID)] {
				t.Fatalf("%s: subject %q drops at a different time", name, recs[i].ID)
			}
		}
	}
}

// TestSweepNeverEarly: after every sweep at a random time, every entry whose DropAfter has not
// passed still rejects, and every entry whose DropAfter (the latest of its revocations) has
// passed is gone.
func TestSweepNeverEarly(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	recs := orderingRecs(rng, 400)
	for i := range recs { // distinct ids for tokens and sessions, so each has one DropAfter
		if recs[i].Kind == events.KindToken || recs[i].Kind == events.KindSession {
			recs[i].ID = fmt.Sprintf("tok-%d", i)
		}
	}
	s, err := New(nil, &sliceSource{recs: recs})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		s.insert(&recs[i])
	}
	type entry struct {
		kind events.Kind
		id   string
	}
	latest := map[entry]time.Time{} // the latest DropAfter of each entry
	for _, r := range recs {
		e := entry{r.Kind, r.ID}
		if r.DropAfter.After(latest[e]) {
			latest[e] = r.DropAfter
		}
	}
	now := recs[0].RevokedAt.Add(-time.Minute)
	for now.Before(recs[0].RevokedAt.Add(2 * time.Hour)) {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Second)
		s.sweep(now)
		live := map[events.Kind]int64{}
		for e, drop := range latest {
			present := false
			if e.kind == events.KindAll {
				present = s.allNB.Load() != minInt64
			} else {
				_, present = s.tab.Load().get(s.h.key(e.kind, e.id))
			}
			if want := !drop.Before(now); present != want {
				t.Fatalf("at %v: %v %q (drops after %v) present=%v", now, e.kind, e.id, drop, present)
			}
			if present {
				live[e.kind]++
			}
		}
		for kind := events.KindToken; kind <= events.KindAll; kind++ {
			if got := s.byKind[kind].Load(); got != live[kind] {
				t.Fatalf("at %v: %d %v entries counted, %d live", now, got, kind, live[kind])
			}
		}
	}
	if st := s.Stats().Entries; st["token"]+st["session"]+st["subject"]+st["all"] != 0 {
		t.Fatalf("entries left after every DropAfter passed: %v", st)
	}
}

// TestFilterFalsePositives: the share of absent keys the Bloom filter lets through to the slots
// (each such probe a likely cache miss in a large table), at the fullest the table gets (3/4,
// just before it grows) and at the emptiest (3/8, just after). With four bits per key in one word
// it is 1.58% and 0.24%; two bits let through 3.27% and 1.03%, three 1.99% and 0.42%.
func TestFilterFalsePositives(t *testing.T) {
	const size = 1 << 18
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		load, max float64
	}{{0.75, 0.018}, {0.375, 0.003}} {
		tab := newTable(size)
		for n := 0; n < int(tc.load*size); n++ {
			tab.put(rng.Uint64()|1<<62, 1)
		}
		const probes = 1 << 20
		through := 0
		for range probes {
			if w, bits := tab.filterBit(rng.Uint64() | 1<<62); w.Load()&bits == bits {
				through++
			}
		}
		rate := float64(through) / probes
		t.Logf("load %.3f: %.2f%% of absent keys pass the filter", tc.load, 100*rate)
		if rate > tc.max {
			t.Errorf("load %.3f: %.2f%% of absent keys pass the filter, want at most %.1f%%", tc.load, 100*rate, 100*tc.max)
		}
	}
}
