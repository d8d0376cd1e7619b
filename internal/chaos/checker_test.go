package chaos

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a subscriber whose revoked set the test controls.
type fake struct {
	mu sync.Mutex
	m  map[string]bool
}

func (f *fake) set(id string, v bool) { f.mu.Lock(); f.m[id] = v; f.mu.Unlock() }
func (f *fake) revoked(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[id]
}

// The checker must fail on each kind of broken history: it is what every scenario relies on.
func TestCheckerCatchesBrokenHistories(t *testing.T) {
	const bound = 100 * time.Millisecond
	cases := []struct {
		name string
		run  func(h *History, a, b *fake)
		want func(Result) error
	}{
		{"all applied", func(h *History, a, b *fake) {
			for i := range 50 {
				id := fmt.Sprint("j", i)
				h.Ack(id, uint64(i+1))
				a.set(id, true)
				b.set(id, true)
			}
		}, func(r Result) error {
			if !r.OK() || r.Acked != 50 || r.Everywhere != 50 || r.Subscribers != 2 || r.WorstLag > bound {
				return fmt.Errorf("%v", r)
			}
			return nil
		}},
		{"lost at one subscriber", func(h *History, a, b *fake) {
			h.Ack("x", 1)
			a.set("x", true)
		}, func(r Result) error {
			if r.OK() || len(r.Lost) != 1 || !strings.HasPrefix(r.Lost[0], "b: x") || r.Everywhere != 0 {
				return fmt.Errorf("%v", r)
			}
			return nil
		}},
		{"late", func(h *History, a, b *fake) {
			h.Ack("y", 1)
			a.set("y", true)
			go func() { time.Sleep(bound + 40*time.Millisecond); b.set("y", true) }()
			time.Sleep(bound + 80*time.Millisecond) // keep acking: Verify waits a bound after the last
			h.Ack("z", 2)
			a.set("z", true)
			b.set("z", true)
		}, func(r Result) error {
			if r.OK() || len(r.Late) != 1 || !strings.HasPrefix(r.Late[0], "b: y") || r.WorstLag <= bound {
				return fmt.Errorf("%v", r)
			}
			return nil
		}},
		{"un-revoked", func(h *History, a, b *fake) {
			h.Ack("u", 1)
			a.set("u", true)
			b.set("u", true)
			time.Sleep(20 * time.Millisecond)
			a.set("u", false)
		}, func(r Result) error {
			if r.OK() || len(r.Unrevoked) != 1 || r.Unrevoked[0] != "a: u" {
				return fmt.Errorf("%v", r)
			}
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHistory(bound)
			a, b := &fake{m: map[string]bool{}}, &fake{m: map[string]bool{}}
			h.Watch("a", a.revoked)
			h.Watch("b", b.revoked)
			c.run(h, a, b)
			r := h.Verify()
			if err := c.want(r); err != nil {
				t.Fatal(err)
			}
			t.Log(r)
		})
	}
}

// A stopped observer (a subscriber that was killed) owes only what was acknowledged a bound
// before it stopped.
func TestCheckerStoppedObserver(t *testing.T) {
	const bound = 50 * time.Millisecond
	h := NewHistory(bound)
	a, dead := &fake{m: map[string]bool{}}, &fake{m: map[string]bool{}}
	h.Watch("a", a.revoked)
	o := h.Watch("dead", dead.revoked)
	h.Ack("before", 1)
	a.set("before", true)
	dead.set("before", true)
	time.Sleep(2 * bound)
	h.Ack("racing", 2) // acknowledged just before the kill: not owed by the dead one
	a.set("racing", true)
	o.Stop()
	h.Ack("after", 3)
	a.set("after", true)
	if r := h.Verify(); !r.OK() || r.Everywhere != 3 {
		t.Fatal(r)
	}
}
