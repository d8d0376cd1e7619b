package revoker

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/stats"
)

// Log is what a Revoker needs from the durable store. store/redisstore satisfies it; so will any
// other backend. Implementations must be safe for concurrent use.
type Log interface {
	// Append durably appends recs as one all-or-nothing unit and assigns each recs[i].Seq from the
	// store's dense global sequence, in order (recs[i].Seq < recs[i+1].Seq). It returns only after
	// the write is durable; on error nothing was appended, or, if the outcome is unknown (a timeout),
	// the caller treats it as not appended and may retry (revocations are idempotent).
	Append(ctx context.Context, recs []events.Revocation) error
	// Head returns the sequence of the last appended revocation (0 for an empty log).
	Head(ctx context.Context) (uint64, error)
}

// Precision is the time precision revocast uses for token iat and for the NotBefore the Revoker
// fills in. Issuers must put IssuedAt(now) in every token's iat (as a fractional NumericDate with
// six decimals) so that a KindSubject or KindAll revocation and a token minted just after it compare
// correctly; see Revoke.
const Precision = time.Microsecond

// IssuedAt returns t truncated to Precision, without its monotonic clock reading: the value an
// issuer must use as a token's iat.
func IssuedAt(t time.Time) time.Time { return t.Truncate(Precision) }

// ceilPrecision rounds t up to the next multiple of Precision.
func ceilPrecision(t time.Time) time.Time {
	f := t.Truncate(Precision)
	if f.Equal(t) {
		return f
	}
	return f.Add(Precision)
}

// Stats are a Revoker's counters since New. Every field only grows.
type Stats struct {
	// Appended counts revocations durably appended to the store.
	Appended uint64
	// Published counts revocations handed to NATS without error (nats.go buffers them; delivery is
	// at most once).
	Published uint64
	// PublishErrors counts revocations whose publish failed, plus failed end-of-batch flushes.
	PublishErrors uint64
	// Heartbeats counts heartbeats handed to NATS without error.
	Heartbeats uint64
	// HeartbeatErrors counts heartbeats that failed (store head unreadable or publish failed).
	HeartbeatErrors uint64
	// ByKind counts the revocations appended by kind ("token", "session", "subject", "all").
	ByKind map[string]uint64
	// AppendErrors counts store appends that failed (Revoke calls, RevokeBatch chunks).
	AppendErrors uint64
	// AppendLatency is the distribution of store append times (one Revoke, or one RevokeBatch
	// chunk).
	AppendLatency stats.HistogramSnapshot
}

// Revoker is the write side of revocast: it appends revocations durably to a Log, then publishes
// them on NATS, and announces the log head with heartbeats (see Run). A Revoker is safe for
// concurrent use by many goroutines; concurrent Revoke calls may publish in an order different from
// their sequence numbers, which subscribers tolerate (applying events is idempotent and
// order-independent, and gaps are filled from the store).
type Revoker struct {
	nc      *nats.Conn
	log     Log
	o       options
	revSubj string
	hbSubj  string
	bufs    sync.Pool // *[]byte, encoding buffers

	appended, published, publishErrors, heartbeats, heartbeatErrors atomic.Uint64

	appendErrors  atomic.Uint64
	byKind        [events.KindAll + 1]atomic.Uint64
	appendLatency *stats.Histogram
}

// New returns a Revoker that appends to log and publishes on nc. nc may be nil: the Revoker then
// only appends (subscribers still get every revocation by polling the store) and Run sends no
// heartbeats. The Revoker never closes nc; whoever created it closes it, after the last call to the
// Revoker has returned. New returns an error wrapping ErrOption if an option is invalid, or if log is
// nil.
func New(nc *nats.Conn, log Log, opts ...Option) (*Revoker, error) {
	if log == nil {
		return nil, fmt.Errorf("%w: nil log", ErrOption)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	r := &Revoker{
		nc:      nc,
		log:     log,
		o:       o,
		revSubj: events.RevocationSubject(o.prefix),
		hbSubj:  events.HeartbeatSubject(o.prefix),

		appendLatency: stats.NewHistogram(),
	}
	r.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return r, nil
}

// Origin returns the origin the Revoker writes into revocations and heartbeats.
func (r *Revoker) Origin() string { return r.o.origin }

// Stats returns a snapshot of the Revoker's counters. It is safe to call at any time.
func (r *Revoker) Stats() Stats {
	st := Stats{
		Appended:        r.appended.Load(),
		Published:       r.published.Load(),
		PublishErrors:   r.publishErrors.Load(),
		Heartbeats:      r.heartbeats.Load(),
		HeartbeatErrors: r.heartbeatErrors.Load(),
		ByKind:          map[string]uint64{},
		AppendErrors:    r.appendErrors.Load(),
		AppendLatency:   r.appendLatency.Snapshot(),
	}
	for k := events.KindToken; k <= events.KindAll; k++ {
		st.ByKind[k.String()] = r.byKind[k].Load()
	}
	return st
}

// append appends recs to the log, timing and counting it.
func (r *Revoker) append(ctx context.Context, recs []events.Revocation) error {
	start := time.Now()
	err := r.log.Append(ctx, recs)
	r.appendLatency.Observe(time.Since(start))
	if err != nil {
		r.appendErrors.Add(1)
		return err
	}
	r.appended.Add(uint64(len(recs)))
	for i := range recs {
		if k := recs[i].Kind; k <= events.KindAll {
			r.byKind[k].Add(1)
		}
	}
	return nil
}

// fill completes rev in place with the defaults described at Revoke, using now as the clock reading.
func (r *Revoker) fill(rev *events.Revocation, now time.Time) {
	if rev.RevokedAt.IsZero() {
		rev.RevokedAt = now
	}
	if (rev.Kind == events.KindSubject || rev.Kind == events.KindAll) && rev.NotBefore.IsZero() {
		rev.NotBefore = ceilPrecision(rev.RevokedAt)
	}
	if rev.Origin == "" {
		rev.Origin = r.o.origin
	}
	if rev.DropAfter.IsZero() {
		from := rev.RevokedAt
		if rev.NotBefore.After(from) {
			from = rev.NotBefore
		}
		rev.DropAfter = from.Add(r.o.lifetime + r.o.leeway)
	}
}

// sign signs rev when a signer is configured.
func (r *Revoker) sign(rev *events.Revocation) {
	if r.o.signKey == nil {
		return
	}
	rev.Kid, rev.Sig = r.o.kid, nil
	rev.Sig = ed25519.Sign(r.o.signKey, rev.SigningBytes(nil))
}

// Revoke durably appends rev to the log, then publishes it, and returns its sequence number.
//
// Before appending, Revoke fills in what rev leaves zero:
//   - RevokedAt: the clock.
//   - NotBefore (KindSubject and KindAll only): RevokedAt rounded up to Precision (a microsecond).
//     Issuers truncate iat to Precision (IssuedAt), so a token minted before RevokedAt has
//     iat < NotBefore and is revoked, and a token minted after Revoke returns (the store append
//     takes far longer than a microsecond) has iat >= NotBefore and is accepted. Verifiers must
//     read a fractional iat rounded to the nearest microsecond, not truncated, since a float64
//     NumericDate can come back a few hundred nanoseconds low.
//   - Origin: the Revoker's origin (WithOrigin).
//   - DropAfter: max(RevokedAt, NotBefore) + max token lifetime + leeway (WithMaxTokenLifetime,
//     WithLeeway). For KindToken, callers that know the token's exp should pass exp + leeway instead,
//     which lets the entry go sooner. A DropAfter before RevokedAt (revoking a token that has
//     already expired) is invalid.
//
// Seq is ignored and assigned by the store. If the completed revocation fails events' Validate,
// Revoke returns an error wrapping ErrInvalid and the events sentinel, and appends nothing.
//
// If the append fails, Revoke returns an error wrapping ErrStore and the store's error and
// publishes nothing: a nil error always means the revocation is durable. Once it is durable, a
// failed publish (connection closed, draining, reconnect buffer full) does not fail the call: it
// is counted in Stats.PublishErrors and passed to the error handler, and subscribers still get the
// revocation from the store, at the latest after the next heartbeat shows them the gap. While
// nats.go is reconnecting it buffers publishes (nats.ReconnectBufSize) and sends them after the
// reconnect, possibly late; that is fine, because delivery is at most once anyway and subscribers
// catch up from the store after every reconnect.
func (r *Revoker) Revoke(ctx context.Context, rev events.Revocation) (seq uint64, err error) {
	r.fill(&rev, r.o.clock())
	rev.Seq = 0
	if err := rev.Validate(); err != nil {
		return 0, wrap2(ErrInvalid, err)
	}
	r.sign(&rev)
	recs := []events.Revocation{rev}
	if err := r.append(ctx, recs); err != nil {
		return 0, wrap2(ErrStore, err)
	}
	r.o.logger.DebugContext(ctx, "revoker: appended", "seq", recs[0].Seq, "kind", recs[0].Kind.String())
	r.publish(recs)
	return recs[0].Seq, nil
}

// publish publishes recs, one message each, counting and reporting failures. It reports at most one
// error per call to the handler.
func (r *Revoker) publish(recs []events.Revocation) {
	if r.nc == nil {
		return
	}
	bp := r.bufs.Get().(*[]byte)
	var (
		ok, failed uint64
		firstErr   error
		firstSeq   uint64
	)
	for i := range recs {
		b := recs[i].AppendJSON((*bp)[:0])
		*bp = b
		if err := r.nc.Publish(r.revSubj, b); err != nil {
			if failed == 0 {
				firstErr, firstSeq = err, recs[i].Seq
			}
			failed++
			continue
		}
		ok++
	}
	r.bufs.Put(bp)
	r.published.Add(ok)
	if failed > 0 {
		r.publishErrors.Add(failed)
		if failed == 1 {
			r.o.onError(fmt.Errorf("%w: seq %d: %w", ErrPublish, firstSeq, firstErr))
		} else {
			r.o.onError(fmt.Errorf("%w: %d of %d revocations from seq %d: %w", ErrPublish, failed, len(recs), firstSeq, firstErr))
		}
	}
}

// RevokeBatch revokes many revocations at once (say the 100,000 jtis of a compromised client) and
// returns the sequence of the last one. Each element is completed and validated as by Revoke, all
// with the same clock reading, and the whole batch is validated before anything is appended: an
// invalid element fails the call with ErrInvalid (its index in the message) and appends nothing.
// RevokeBatch does not modify revs.
//
// The batch is appended in chunks (WithBatchChunk, default 1000), each one all-or-nothing Append,
// one after another in order, so sequences increase along revs. While chunk k+1 is being appended,
// chunk k is published (one message per revocation, buffered by nats.go); after the last chunk
// RevokeBatch waits for NATS to acknowledge the buffered messages (a flush bounded by
// WithFlushTimeout; skipped while disconnected). Publish and flush failures are handled as in
// Revoke: counted and reported, never returned.
//
// On success every revocation is durable. On failure (a store error, or ctx done between chunks)
// the error is a *BatchError: revs[:Durable] are durable (and were published), revs[Durable:] were
// not appended, and Durable is a multiple of the chunk size. The caller can retry revs[Durable:]
// (or the whole batch: appending a revocation twice is harmless).
func (r *Revoker) RevokeBatch(ctx context.Context, revs []events.Revocation) (last uint64, err error) {
	if len(revs) == 0 {
		return 0, nil
	}
	now := r.o.clock()
	for i := range revs {
		rev := revs[i]
		r.fill(&rev, now)
		if err := rev.Validate(); err != nil {
			return 0, fmt.Errorf("%w: revocation %d: %w", ErrInvalid, i, err)
		}
	}
	size := min(r.o.chunk, len(revs))
	var bufs [2][]events.Revocation
	bufs[0] = make([]events.Revocation, size)
	if len(revs) > size {
		bufs[1] = make([]events.Revocation, size)
	}
	// launch fills chunk k into its buffer and appends it on another goroutine.
	launch := func(k int) (<-chan error, []events.Revocation) {
		from := k * size
		c := bufs[k%2][:min(size, len(revs)-from)]
		for i := range c {
			c[i] = revs[from+i]
			r.fill(&c[i], now)
			r.sign(&c[i])
			c[i].Seq = 0
		}
		done := make(chan error, 1)
		go func() { done <- r.append(ctx, c) }()
		return done, c
	}
	chunks := (len(revs) + size - 1) / size
	done, cur := launch(0)
	for k := 0; k < chunks; k++ {
		if err := <-done; err != nil {
			r.flush(ctx)
			return last, &BatchError{Durable: k * size, Last: last, Err: wrap2(ErrStore, err)}
		}
		last = max(last, cur[len(cur)-1].Seq)
		appended := cur
		var stop error
		if k+1 < chunks {
			if stop = ctx.Err(); stop == nil {
				done, cur = launch(k + 1)
			}
		}
		r.publish(appended) // overlaps with the next chunk's Append
		if stop != nil {
			r.flush(ctx)
			return last, &BatchError{Durable: (k + 1) * size, Last: last, Err: stop}
		}
	}
	r.o.logger.DebugContext(ctx, "revoker: batch appended", "count", len(revs), "last", last)
	r.flush(ctx)
	return last, nil
}

// flush waits for NATS to acknowledge everything published so far, if connected.
func (r *Revoker) flush(ctx context.Context) {
	if r.nc == nil || !r.nc.IsConnected() {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.flush)
	defer cancel()
	if err := r.nc.FlushWithContext(fctx); err != nil {
		r.publishErrors.Add(1)
		r.o.onError(fmt.Errorf("%w: flush: %w", ErrPublish, err))
	}
}

// Run sends heartbeats until ctx is done, then returns ctx.Err(). Every heartbeat interval
// (WithHeartbeatInterval, default 1s; the first one at once) it reads the head from the store, not
// from a local counter, and publishes events.Heartbeat{Head, Origin, Time} on
// events.HeartbeatSubject(prefix). Because the head comes from the store, a subscriber learns of
// entries appended by other revokers, or whose publish was lost (a revoker killed between append
// and publish), and catches up. Failures are counted in Stats.HeartbeatErrors and passed to the
// error handler wrapped in ErrHeartbeat; Run keeps going. With a nil connection Run just waits for
// ctx. Run one heartbeat loop per Revoker (running more only sends more heartbeats).
func (r *Revoker) Run(ctx context.Context) error {
	if r.nc == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(r.o.heartbeat)
	defer t.Stop()
	for {
		r.beat(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// beat sends one heartbeat.
func (r *Revoker) beat(ctx context.Context) {
	hctx, cancel := context.WithTimeout(ctx, r.o.heartbeat)
	head, err := r.log.Head(hctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		r.heartbeatErrors.Add(1)
		r.o.onError(fmt.Errorf("%w: read head: %w", ErrHeartbeat, err))
		return
	}
	h := events.Heartbeat{Head: head, Origin: r.o.origin, Time: r.o.clock()}
	if r.o.signKey != nil {
		h.Kid = r.o.kid
		h.Sig = ed25519.Sign(r.o.signKey, h.SigningBytes(nil))
	}
	bp := r.bufs.Get().(*[]byte)
	*bp = h.AppendJSON((*bp)[:0])
	err = r.nc.Publish(r.hbSubj, *bp)
	r.bufs.Put(bp)
	if err != nil {
		r.heartbeatErrors.Add(1)
		r.o.onError(fmt.Errorf("%w: publish: %w", ErrHeartbeat, err))
		return
	}
	r.heartbeats.Add(1)
	r.o.logger.DebugContext(ctx, "revoker: heartbeat", "head", head)
}
