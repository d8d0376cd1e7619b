package stats

import (
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram(time.Millisecond, 10*time.Millisecond)
	for _, d := range []time.Duration{-time.Second, 0, time.Millisecond, time.Millisecond + 1, 10 * time.Millisecond, time.Hour} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if want := []uint64{3, 2, 1}; !equal(s.Counts, want) {
		t.Fatalf("counts %v, want %v (bounds are inclusive, negative counts as 0)", s.Counts, want)
	}
	if s.Count != 6 {
		t.Fatalf("count %d, want 6", s.Count)
	}
	if want := 2*time.Millisecond + 1 + 10*time.Millisecond + time.Hour; s.Sum != want {
		t.Fatalf("sum %v, want %v", s.Sum, want)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.01, time.Millisecond}, {0.5, time.Millisecond}, {0.51, 10 * time.Millisecond}, {5.0 / 6, 10 * time.Millisecond}, {1, math.MaxInt64}} {
		if got := s.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := NewHistogram().Snapshot().Quantile(0.99); got != 0 {
		t.Fatalf("empty histogram quantile %v, want 0", got)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 {
		t.Fatalf("count %d after 8000 concurrent observations", s.Count)
	}
}

func TestNewHistogramUnsorted(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("unsorted bounds accepted")
		}
	}()
	NewHistogram(time.Second, time.Millisecond)
}

func BenchmarkObserve(b *testing.B) {
	h := NewHistogram()
	b.RunParallel(func(pb *testing.PB) {
		d := 3 * time.Millisecond
		for pb.Next() {
			h.Observe(d)
		}
	})
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
