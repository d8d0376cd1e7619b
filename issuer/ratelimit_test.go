package issuer

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterBounded: the limiter's map never grows past its bound, and a key that comes back after
// eviction starts with a full bucket (eviction only forgets state equal to a full bucket, or, under
// pressure, arbitrary state).
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(Rate{Burst: 2, Interval: time.Second}, 100)
	now := time.Unix(1000, 0)
	for i := range 10_000 {
		l.allow(fmt.Sprint("k", i), now)
		if n := l.size(); n > 100 {
			t.Fatalf("%d keys", n)
		}
	}
	if ok, _ := l.allow("x", now); !ok {
		t.Fatal("first attempt refused")
	}
	l.allow("x", now)
	ok, wait := l.allow("x", now)
	if ok || wait != time.Second {
		t.Fatalf("third attempt: %v %v", ok, wait)
	}
	if ok, _ := l.allow("x", now.Add(time.Second)); !ok {
		t.Fatal("refill did not happen")
	}
	off := newLimiter(Rate{Burst: -1}, 1)
	for range 10 {
		if ok, _ := off.allow("x", now); !ok {
			t.Fatal("disabled limiter refused")
		}
	}
}

func TestNumericDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.5", time.Unix(1700000000, 500000000), false},
		{"1700000000.123456", time.Unix(1700000000, 123456000), false},
		{"1700000000.1234565", time.Unix(1700000000, 123457000), false},
		{"1700000000.123456999", time.Unix(1700000000, 123457000), false},
		{"1.7e9", time.Unix(1700000000, 0), false},
		{"-1", time.Time{}, true},
		{"x", time.Time{}, true},
		{"1e300", time.Time{}, true},
	} {
		got, err := parseNumericDate(tc.in)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, us := range []int64{0, 1, 999999, 1700000000_000001, 1700000000_100000, 1700000000_999999} {
		d := numericDate{time.UnixMicro(us)}
		b, _ := d.MarshalJSON()
		var back numericDate
		if err := back.UnmarshalJSON(b); err != nil || back.UnixMicro() != us {
			t.Errorf("%d: %s → %v %v", us, b, back.Time, err)
		}
	}
}
