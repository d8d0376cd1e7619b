// Package revoker is the write side of revocast: it appends revocations durably to the store, then
// publishes them on NATS, and announces the store's head with heartbeats.
//
// The order is the no-loss protocol's first step. Revoke returns success only after the store has
// durably appended the revocation and assigned its sequence number; a store failure is returned as
// an error wrapping ErrStore, never a false success. Only then is the event published (core NATS,
// at most once). A publish failure does not fail the call: subscribers learn of the entry from the
// store, because heartbeats (Run) carry the store's head and any subscriber behind it catches up.
//
// A Revoker takes a *nats.Conn that it never closes (nil is allowed: store only) and a Log, the
// small interface it declares for the store (store/redisstore implements it). Options follow the
// functional-option pattern; each states its default. A Revoker is safe for concurrent use.
//
// Time precision: the NotBefore that Revoke fills in for subject and all revocations is rounded up
// to a microsecond (Precision), and issuers must truncate token iat to a microsecond (IssuedAt), so
// that "log out everywhere, then log in again" works within the same second.
package revoker
