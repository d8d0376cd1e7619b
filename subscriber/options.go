package subscriber

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/revocast/revocast/events"
)

// Option configures a Subscriber.
type Option func(*options) error

type options struct {
	prefix         string
	heartbeatBound time.Duration
	pollInterval   time.Duration
	freshness      time.Duration
	gapWait        time.Duration
	sweepInterval  time.Duration
	pendingMsgs    int
	pendingBytes   int
	catchUpBatch   int
	clock          func() time.Time
	onRevoke       func(events.Revocation)
	errorHandler   func(error)
	logger         *slog.Logger
	trusted        map[string]ed25519.PublicKey
	service        string
}

func defaultOptions() options {
	return options{
		prefix:         events.DefaultPrefix,
		heartbeatBound: 3 * time.Second,
		pollInterval:   time.Second,
		freshness:      5 * time.Second,
		gapWait:        100 * time.Millisecond,
		sweepInterval:  10 * time.Second,
		catchUpBatch:   10_000,
		clock:          time.Now,
		errorHandler:   func(error) {},
		logger:         slog.New(slog.DiscardHandler),
		service:        filepath.Base(os.Args[0]),
	}
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: %s must be positive, got %v", ErrOption, name, d)
	}
	return nil
}

// WithPrefix sets the NATS subject prefix the revokers publish under. Defaults to
// events.DefaultPrefix ("revocast.v1").
func WithPrefix(prefix string) Option {
	return func(o *options) error {
		if prefix == "" {
			return fmt.Errorf("%w: empty prefix", ErrOption)
		}
		o.prefix = prefix
		return nil
	}
}

// WithHeartbeatBound sets how long the subscriber waits without any event or heartbeat before it
// stops trusting NATS and catches up from the store (then polls it every poll interval until NATS
// speaks again). It is what notices a silent, half-open connection long before nats.go's pings do.
// Defaults to 3s (three heartbeats at the revoker's default interval).
func WithHeartbeatBound(d time.Duration) Option {
	return func(o *options) error { o.heartbeatBound = d; return positive("heartbeat bound", d) }
}

// WithPollInterval sets how often the store is polled while NATS is silent or disconnected.
// Defaults to 1s.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error { o.pollInterval = d; return positive("poll interval", d) }
}

// WithFreshnessBound sets how long after the last proof of being up to date (a heartbeat not ahead
// of what was applied, or a completed catch-up) the subscriber still counts as fresh. Defaults to 5s.
func WithFreshnessBound(d time.Duration) Option {
	return func(o *options) error { o.freshness = d; return positive("freshness bound", d) }
}

// WithGapWait sets how long a missing sequence number may stay missing before the subscriber
// catches up from the store. Concurrent revokers publish slightly out of order, so a short wait
// avoids needless reads; the events already received are applied at once regardless. Defaults to
// 100ms.
func WithGapWait(d time.Duration) Option {
	return func(o *options) error { o.gapWait = d; return positive("gap wait", d) }
}

// WithSweepInterval sets how often expired entries are removed from the cache. Defaults to 10s.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) error { o.sweepInterval = d; return positive("sweep interval", d) }
}

// WithPendingLimits sets the NATS subscription's pending limits (messages, bytes); past them NATS
// drops messages, which the subscriber detects and repairs from the store. Defaults to nats.go's
// (512k messages, 64 MiB).
func WithPendingLimits(msgs, bytes int) Option {
	return func(o *options) error {
		if msgs == 0 || bytes == 0 {
			return fmt.Errorf("%w: pending limits must be non-zero (negative means unlimited)", ErrOption)
		}
		o.pendingMsgs, o.pendingBytes = msgs, bytes
		return nil
	}
}

// WithCatchUpBatch sets how many entries one store read returns while catching up. Defaults to
// 10,000.
func WithCatchUpBatch(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: catch-up batch must be positive", ErrOption)
		}
		o.catchUpBatch = n
		return nil
	}
}

// WithClock sets the clock that drives expiry (the sweep and DropAfter) and freshness. The protocol's
// own timers (silence, polling, gap wait) run on the monotonic clock. Defaults to time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrOption)
		}
		o.clock = now
		return nil
	}
}

// WithOnRevoke sets a function called once for every revocation applied after Start (from NATS or
// from a catch-up; entries of the cold-start snapshot are not reported), for example to close the
// websockets of a revoked session. It runs with the subscriber's writer lock held, on the NATS
// subscription's goroutine (or the protocol goroutine, for a catch-up): it must return quickly and
// must not call Close. Defaults to none.
func WithOnRevoke(f func(events.Revocation)) Option {
	return func(o *options) error { o.onRevoke = f; return nil }
}

// WithErrorHandler sets the function told of asynchronous failures: store reads that failed,
// invalid events dropped (the error never contains the payload). It must not block. Defaults to
// discarding them.
func WithErrorHandler(f func(error)) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: nil error handler", ErrOption)
		}
		o.errorHandler = f
		return nil
	}
}

// WithLogger sets the logger for resyncs and failures. Defaults to discarding.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.logger = l
		return nil
	}
}

// WithTrustedKeys makes the subscriber accept only revocations and heartbeats signed (Ed25519) by
// one of keys, by key id; see revoker.WithSigner. Unsigned, unknown-key and badly signed events and
// heartbeats from NATS are dropped and counted (Stats.Unverified), as are heartbeats older than the
// heartbeat bound (replays); entries read from the store while catching up are verified the same
// way. The cold-start snapshot is not verified (a million signature checks would take most of a
// minute): it is protected by the store's access control, where subscribers are read-only.
// Verifying costs some tens of microseconds per event on the NATS delivery goroutine, which bounds
// a subscriber at tens of thousands of events per second; bursts beyond that queue up and, past the
// pending limits, are repaired from the store. Defaults to accepting unsigned events.
func WithTrustedKeys(keys map[string]ed25519.PublicKey) Option {
	return func(o *options) error {
		if len(keys) == 0 {
			return fmt.Errorf("%w: no trusted keys", ErrOption)
		}
		o.trusted = keys
		return nil
	}
}

// WithService names the service that embeds the subscriber, as it appears in status replies
// (`revocast status`) and metrics. Defaults to the program's file name.
func WithService(name string) Option {
	return func(o *options) error {
		if name == "" || len(name) > 128 {
			return fmt.Errorf("%w: service name must be 1 to 128 bytes", ErrOption)
		}
		o.service = name
		return nil
	}
}
