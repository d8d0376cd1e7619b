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
//   - {prefix}:log, a sorted set: score = sequence, member = the event exactly as events' AppendJSON
//     encodes it with its Seq ({"v":1,"seq":N,...}).
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
// Why the sequence is in the member, not only in the score: the design first kept members without
// Seq (14 bytes shorter) and read pages WITHSCORES. Measured on Redis 7.0, a 10,000-entry ZRANGE
// WITHSCORES costs the server 5.4 ms, against 0.9 ms without scores (Redis formats every double),
// and go-redis allocates twice per entry instead of once; a 1M-entry snapshot went from 1.35 s to
// 0.6 s. The price is about 30 bytes per entry of Redis memory (see BenchmarkMemory).
//
// Duplicates: since every member carries its own sequence, no two members are ever identical. A
// revocation appended twice (a retry after an unknown outcome, which go-redis may also do on its own
// after a network error) is stored twice, at two sequences; both copies expire together.
// Revocations are idempotent, so this costs only memory, and nothing ever moves or disappears from
// under a concurrent Snapshot's cursor (a plain ZADD of an identical member would have moved it).
//
// # Reads
//
// Snapshot reads the head, then pages through ZRANGE {prefix}:log (last head BYSCORE LIMIT 0 n. Each
// member decodes with events.DecodeRevocationString, which returns substrings of the reply instead
// of copies. A goroutine reads the next page while the current one is decoded (by up to GOMAXPROCS
// goroutines, at most 4, for pages of 2048 entries or more) and handed to the callback, so decoding
// overlaps with Redis and the network. After is one Lua script (GET and
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
