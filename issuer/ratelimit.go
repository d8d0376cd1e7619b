package issuer

import (
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by string, bounded to max keys.
type limiter struct {
	rate Rate
	max  int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate Rate, max int) *limiter {
	return &limiter{rate: rate, max: max, buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket at now. When the bucket is empty it returns false and how
// long until a token is back.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l.rate.Burst < 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.rate.Interval))
	return false, wait
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if now.After(b.last) {
		b.tokens += float64(now.Sub(b.last)) / float64(l.rate.Interval)
		if b.tokens > float64(l.rate.Burst) {
			b.tokens = float64(l.rate.Burst)
		}
		b.last = now
	}
}

// evict drops every bucket that is full again (the same as no bucket), and if that frees less than
// a tenth of the map, arbitrary buckets until it does. Called with mu held.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= float64(l.rate.Burst) {
			delete(l.buckets, k)
		}
	}
	target := l.max - l.max/10 - 1
	for k := range l.buckets {
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, k)
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
