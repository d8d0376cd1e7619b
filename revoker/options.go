package revoker

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/revocast/revocast/events"
)

// Option configures a Revoker. Options that get an invalid value make New return an error wrapping
// ErrOption.
type Option func(*options) error

type options struct {
	prefix    string
	origin    string
	heartbeat time.Duration
	lifetime  time.Duration
	leeway    time.Duration
	chunk     int
	flush     time.Duration
	clock     func() time.Time
	onError   func(error)
	logger    *slog.Logger
	kid       string
	signKey   ed25519.PrivateKey
}

func defaultOptions() options {
	return options{
		prefix:    events.DefaultPrefix,
		origin:    defaultOrigin(),
		heartbeat: time.Second,
		lifetime:  5 * time.Minute,
		leeway:    30 * time.Second,
		chunk:     1000,
		flush:     5 * time.Second,
		clock:     time.Now,
		onError:   func(error) {},
		logger:    slog.New(slog.DiscardHandler),
	}
}

// defaultOrigin returns "hostname-pid", cut and cleaned to a valid origin.
func defaultOrigin() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '*' || r == '>' || r >= 0x80 {
			return -1
		}
		return r
	}, host)
	if host == "" {
		host = "revoker"
	}
	pid := "-" + strconv.Itoa(os.Getpid())
	if len(host)+len(pid) > events.MaxOriginLen {
		host = host[:events.MaxOriginLen-len(pid)]
	}
	return host + pid
}

// WithPrefix sets the NATS subject prefix: revocations go to events.RevocationSubject(prefix) and
// heartbeats to events.HeartbeatSubject(prefix). Defaults to events.DefaultPrefix ("revocast.v1").
// The prefix must be non-empty and contain no whitespace, '*' or '>'.
func WithPrefix(prefix string) Option {
	return func(o *options) error {
		if prefix == "" || strings.ContainsAny(prefix, "*> \t\r\n") || strings.HasPrefix(prefix, ".") ||
			strings.HasSuffix(prefix, ".") || strings.Contains(prefix, "..") {
			return fmt.Errorf("%w: prefix %q is not a valid subject prefix", ErrOption, prefix)
		}
		o.prefix = prefix
		return nil
	}
}

// WithOrigin sets the origin written into every revocation that has none and into every heartbeat.
// It must be a valid events origin (at most events.MaxOriginLen bytes, no whitespace, control
// characters, '*' or '>'). Defaults to "hostname-pid".
func WithOrigin(origin string) Option {
	return func(o *options) error {
		hb := events.Heartbeat{Origin: origin, Time: time.Unix(1, 0)}
		if err := hb.Validate(); err != nil {
			return fmt.Errorf("%w: origin: %w", ErrOption, err)
		}
		o.origin = origin
		return nil
	}
}

// WithHeartbeatInterval sets how often Run publishes the store head. It must be positive. Defaults to
// 1s. Subscribers must be configured with a silence bound larger than this.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: heartbeat interval %v must be positive", ErrOption, d)
		}
		o.heartbeat = d
		return nil
	}
}

// WithMaxTokenLifetime sets the longest lifetime of an access token, used to fill DropAfter when
// the caller leaves it zero. It must be positive. Defaults to 5m (the issuer's default lifetime).
func WithMaxTokenLifetime(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: max token lifetime %v must be positive", ErrOption, d)
		}
		o.lifetime = d
		return nil
	}
}

// WithLeeway sets the clock-skew allowance added to DropAfter when the revoker fills it in. It must
// not be negative. Defaults to 30s.
func WithLeeway(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: leeway %v must not be negative", ErrOption, d)
		}
		o.leeway = d
		return nil
	}
}

// WithBatchChunk sets how many revocations RevokeBatch hands to one Log.Append. It must be between
// 1 and 100000. Defaults to 1000.
func WithBatchChunk(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 100000 {
			return fmt.Errorf("%w: batch chunk %d out of range 1..100000", ErrOption, n)
		}
		o.chunk = n
		return nil
	}
}

// WithFlushTimeout bounds the NATS flush at the end of RevokeBatch. It must be positive. Defaults
// to 5s. A flush that fails or times out is reported to the error handler, not to the caller.
func WithFlushTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: flush timeout %v must be positive", ErrOption, d)
		}
		o.flush = d
		return nil
	}
}

// WithClock sets the clock used for RevokedAt, the filled-in NotBefore and DropAfter, and heartbeat
// times. It must not be nil. Defaults to time.Now. (The heartbeat interval is always real time.)
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrOption)
		}
		o.clock = now
		return nil
	}
}

// WithErrorHandler sets the function that receives asynchronous failures that are not returned to
// a caller: publish failures (wrapping ErrPublish) and heartbeat failures (wrapping ErrHeartbeat).
// It is called synchronously, possibly from several goroutines at once, so it must be safe for
// concurrent use and return quickly. Defaults to discarding the errors (they are still counted in
// Stats).
func WithErrorHandler(f func(error)) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: nil error handler", ErrOption)
		}
		o.onError = f
		return nil
	}
}

// WithLogger sets the logger for debug-level tracing of appends and heartbeats. It must not be nil.
// Defaults to a logger that discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.logger = l
		return nil
	}
}

// WithSigner signs every revocation and heartbeat with key under the key id kid (Ed25519), so that
// subscribers given the public key (subscriber.WithTrustedKeys) drop anything an account that can
// merely publish on NATS forges. A signature costs some tens of microseconds per revocation, so a
// signing RevokeBatch is slower. Defaults to no signing.
func WithSigner(kid string, key ed25519.PrivateKey) Option {
	return func(o *options) error {
		if kid == "" || len(kid) > events.MaxKidLen || len(key) != ed25519.PrivateKeySize {
			return fmt.Errorf("%w: signer needs a kid of 1 to %d bytes and an Ed25519 private key", ErrOption, events.MaxKidLen)
		}
		o.kid, o.signKey = kid, key
		return nil
	}
}
