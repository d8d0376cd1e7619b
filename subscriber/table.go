package subscriber

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/revocast/revocast/events"
)

// The cache is an open-addressing hash table of atomic 64-bit words with linear probing, written
// by one goroutine at a time (the holder of the subscriber's writer lock) and read by any number of goroutines without a
// lock: a reader does atomic loads only, so Check never waits for, or slows down, the writer.
//
// Keys are not the ids themselves but a 62-bit keyed hash of the id, tagged with the kind with a per-process random
// seed (hash/maphash). Not storing ids keeps an entry at 16 bytes. Two different ids share a key
// with probability about n/2^62 for n live entries (2e-13 at a million), and since the seed is
// secret and ids come from signed tokens, nobody can aim at a collision; a collision would reject
// a valid token, never accept a revoked one.
//
// A slot is {key, value}. Key 0 means empty. For token and session entries the value is the
// entry's DropAfter (unix nanoseconds); for subject entries it is the NotBefore, and the writer
// keeps their DropAfter in a map of its own. The writer stores the value before the key, so a
// reader that sees a key sees its value. A value only ever grows (a later subject revocation
// raises NotBefore), so a reader racing with an update sees the old or the new one, both correct.
//
// Nothing is deleted in place. Growing (past 3/4 full) and expiry build a new table and publish it
// with one atomic pointer store; readers still probing the old one finish there, and the garbage
// collector frees it.
type table struct {
	slots []slot
	mask  uint64
	count int // live entries; writer only

	// filter is a blocked Bloom filter of the keys (four bits in one 64-bit word), 8 bits per slot (2 MiB for a million
	// entries, so it stays in cache): most tokens are not revoked, and a clear bit answers that
	// without touching the slots, whose random reads miss the CPU caches once the table is large.
	// The writer sets a key's bits before it stores the key.
	filter      []atomic.Uint64
	filterShift uint
}

type slot struct {
	key atomic.Uint64
	val atomic.Int64
}

const minTableSize = 1 << 10

func newTable(size int) *table {
	n := minTableSize
	for n < size {
		n <<= 1
	}
	log2 := uint(bits.Len(uint(n)) - 1 + 3) // log2(8n)
	return &table{slots: make([]slot, n), mask: uint64(n - 1),
		filter: make([]atomic.Uint64, (n*8)/64), filterShift: 64 - log2}
}

// filterBit returns the filter word of key and the four bits set in it for key (a blocked Bloom
// filter with k=4 in one word: one cache line read), from hash bits the slot index does not use.
// Four bits let through 1.6% of absent keys at the fullest the table gets, two let through 3.3%
// (TestFilterFalsePositives); each key let through costs a probe of the slots, a likely cache miss.
func (t *table) filterBit(key uint64) (*atomic.Uint64, uint64) {
	h := key * 0x9e3779b97f4a7c15
	w := h >> t.filterShift >> 6
	return &t.filter[w], 1<<(h&63) | 1<<((h>>6)&63) | 1<<((h>>12)&63) | 1<<((h>>18)&63)
}

// hasher computes the keyed hashes; one per Subscriber.
type hasher struct {
	seed maphash.Seed
}

func newHasher() *hasher { return &hasher{seed: maphash.MakeSeed()} }

// key returns the table key of (kind, id): 62 bits of keyed hash with the kind in the top two bits
// (token 1, session 2, subject 3), so a key is never 0 and tells its kind.
func (h *hasher) key(kind events.Kind, id string) uint64 {
	return maphash.String(h.seed, id)>>2 | uint64(kind)<<62
}

// keyKind returns the kind a key was made for.
func keyKind(key uint64) events.Kind { return events.Kind(key >> 62) }

// get returns the value stored under key, or false. Safe for concurrent use with one writer.
func (t *table) get(key uint64) (int64, bool) {
	if w, bits := t.filterBit(key); w.Load()&bits != bits {
		return 0, false
	}
	return t.probe(key)
}

// probe looks key up in the slots, without the filter.
func (t *table) probe(key uint64) (int64, bool) {
	for i := key & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case key:
			return s.val.Load(), true
		case 0:
			return 0, false
		}
	}
}

// put stores val under key, keeping the larger value when the key is present. It reports whether
// the key is new. The caller makes room first (full).
func (t *table) put(key uint64, val int64) bool {
	for i := key & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case key:
			if val > s.val.Load() {
				s.val.Store(val)
			}
			return false
		case 0:
			w, bit := t.filterBit(key)
			w.Or(bit)
			s.val.Store(val)
			s.key.Store(key)
			t.count++
			return true
		}
	}
}

// full reports whether one more entry would take the table past 3/4.
func (t *table) full() bool { return (t.count+1)*4 > len(t.slots)*3 }

// rebuilt returns a new table, at most half full, holding every entry for which keep returns
// true. keep is called once per entry.
func (t *table) rebuilt(keep func(key uint64, val int64) bool) *table {
	kept := make([]int, 0, t.count)
	for i := range t.slots {
		if k := t.slots[i].key.Load(); k != 0 && keep(k, t.slots[i].val.Load()) {
			kept = append(kept, i)
		}
	}
	nt := newTable(len(kept)*2 + 1)
	for _, i := range kept {
		nt.put(t.slots[i].key.Load(), t.slots[i].val.Load())
	}
	return nt
}
