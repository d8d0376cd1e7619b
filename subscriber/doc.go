// Package subscriber is the read side of revocast, embedded in every service that accepts access
// tokens: it keeps an in-process copy of every live revocation and answers Check in nanoseconds,
// with no network hop, and it never loses a revocation.
//
// # The no-loss protocol
//
// Start subscribes to the revokers' events on NATS first (buffering them), then loads a snapshot of
// every live entry from the durable log (Source: store/redisstore or store/jsstore) together with
// the log's head sequence, then applies what arrived meanwhile, and only then is ready. After that
// one goroutine applies everything, in any order (revocations are a union: applying one twice or
// out of order changes nothing), and tracks the highest sequence up to which nothing is missing. It
// catches up from the store (Source.After) when:
//
//   - a sequence number stays missing for the gap wait (100ms; concurrent revokers publish a little
//     out of order, so a gap is given a moment to fill itself) — reason "gap";
//   - a heartbeat announces a head beyond what was applied (a publish was lost, or another issuer's
//     event has not arrived) — "heartbeat_ahead";
//   - the NATS connection reconnected — "reconnect";
//   - NATS dropped messages for the subscription (pending limits) — "slow_consumer";
//   - nothing at all, not even a heartbeat, arrived for the heartbeat bound (3s) — "silence": this
//     is what notices a half-open connection that nats.go's pings would notice only after minutes;
//     then it polls the store every poll interval (1s) until NATS speaks again;
//   - the connection is down (or there is none: New(nil, …)): the store is polled every poll
//     interval from the moment nats.go reports it disconnected — "poll". So with NATS entirely
//     down, revocations still arrive within about the poll interval.
//
// Freshness: a heartbeat not ahead of what was applied, or a completed catch-up, proves the
// subscriber up to date. Fresh reports whether that proof is younger than the freshness bound (5s);
// a service chooses to fail open or closed when it is not.
//
// # The cache
//
// A hash table of atomic words written by one goroutine at a time (under the writer lock: the NATS
// subscription's goroutine applies each event as it arrives, with no hand-off to another goroutine)
// and read without any lock (see table.go): Check does atomic loads only, allocates nothing, and costs a few tens of nanoseconds
// against a million live entries (BENCHMARKS.md). Entries are 16-byte slots keyed by a secret-seeded
// hash of the id, never the id itself. Entries leave the cache after their DropAfter (by the
// injected clock, WithClock); a live entry never does.
//
// # Ownership
//
// New never closes the *nats.Conn it is given: the caller closes it after Close. Close is
// idempotent and waits for the subscriber's goroutines. The library never logs on its own unless
// given a logger (WithLogger); asynchronous failures go to WithErrorHandler.
package subscriber
