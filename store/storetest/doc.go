// Package storetest is the conformance suite every revocast durable log must pass: the Redis store
// (store/redisstore) and the JetStream store run the same tests.
//
// Log is the contract, copied verbatim from what its users (the revoker and the subscriber) declare,
// plus Sweep. Run takes a constructor that returns an empty log driven by the given clock, and runs
// subtests for: the dense global sequence under concurrent appenders, all-or-nothing Append, the
// exact content and order of Snapshot (also while appends run), After pagination and the
// consistency of its head, expiry (Sweep and the bounded removal inside Append) with an injected
// clock, and context cancellation.
//
// The suite needs no server of its own: the caller's constructor starts or connects whatever the
// store needs. It never sleeps; everything it checks is decided by the calls it makes.
//
// Expiry granularity: a store may keep expiry times at a coarser resolution than nanoseconds, so the
// suite only requires Sweep to remove an entry once its DropAfter is at least one second before the
// sweep time (Granularity), but it requires, at every resolution, that no entry whose DropAfter is
// after the sweep time is ever removed and that Snapshot and After return exactly the live entries.
package storetest
