// Package redisstore is revocast's durable revocation log in Redis: the store the revoker appends to
// (assigning the dense global sequence) and the subscriber snapshots on a cold start and catches up
// from after a gap.
//
// # Keys
//
// Three keys share the hash tag "{prefix}" (WithPrefix, default "revocast"), so they live in one
// Redis Cluster slot and the Lua scripts may use them together (Cluster is supported by design but
// not tested here: the test environment has no Redis Cluster):
//
//   - {prefix}:seq, a string counter: the highest sequence assigned so far (the head).
//   - {prefix}:log, a sorted set: score = sequence, member = the event as events' AppendJSON encodes
//     it, with Seq zero (the sequence comes back from the score).
//   - {prefix}:exp, a sorted set: score = DropAfter in unix milliseconds rounded up, member = the
//     sequence in decimal. It finds expired entries without decoding anything.
//
// Scores are float64, exact for integers up to 2^53 (MaxSeq); Append refuses to go past it
// (ErrSeqOverflow), which at a million revocations a second is 285 years away.
//
// # Writes
//
// Append is one Lua script run with EVALSHA (falling back to EVAL once per server): INCRBY the
// counter by the batch size, ZADD NX each member with its sequence and its expiry, then remove up to
// 100 entries whose DropAfter is before now. A script is atomic, so the batch is all-or-nothing and
// the sequence is dense across every writer; Redis replies only after the write reached the AOF as
// configured (appendfsync always: an acknowledged append survives kill -9; the tests prove it).
//
// Duplicates: the member is a deterministic encoding, so appending a revocation identical to one
// still stored (a retry after an unknown outcome, which go-redis may also do on its own after a
// network error) finds the member already there. ZADD NX keeps the stored entry at its original
// sequence and the new sequence is left as a hole; the caller still gets increasing sequences. The
// alternative, a plain ZADD, would move the entry to the new sequence, which can make it vanish from
// under a concurrent Snapshot's cursor; a hole is harmless (subscribers track the head, not every
// number), a moved or lost entry is not.
//
// # Reads
//
// Snapshot reads the head, then pages through ZRANGE {prefix}:log (last head BYSCORE LIMIT 0 n
// WITHSCORES. Each member decodes with events.DecodeRevocationString, which returns substrings of the
// reply instead of copies. A goroutine reads the next page while the caller's callback handles the
// current one, so decoding overlaps with Redis and the network. After is one Lua script (GET and
// ZRANGE together), so its head is consistent with its entries.
//
// Both skip entries that are no longer live (DropAfter not after now, by the store's clock) and
// entries that do not decode. A stored entry that does not decode (corruption, or one written by a
// newer version) cannot stop a cold start, or no subscriber could ever start again; it cannot pass
// silently either. It is skipped, counted (Corrupt) and reported as an error wrapping ErrCorrupt to
// the error handler (WithErrorHandler), which a service wires to its logs and metrics.
//
// # Expiry
//
// Append removes up to 100 expired entries each time, so a log that only sees appends stays bounded
// by what is live plus a little; Sweep removes all of them (run it periodically from one place).
// Expiry has millisecond resolution and always rounds toward keeping an entry: nothing whose
// DropAfter is after now is ever removed. Expiry never lowers the head.
//
// # Ownership and concurrency
//
// A Store is safe for concurrent use. It never closes the redis.UniversalClient it is given; the
// caller does, after the last call has returned.
package redisstore
