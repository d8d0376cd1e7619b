// Package events defines revocast's wire format: the revocation events that revokers append to the
// store and publish on NATS, and the heartbeats that announce the store's head sequence.
//
// The format is versioned JSON (version 1). Encoding is hand-written and deterministic (fixed field
// order, fixed-width UTC timestamps), so the same event always encodes to the same bytes; decoding
// is a strict hand-written parser that rejects anything it does not fully understand. Both are
// allocation-free on the common path, because a subscriber decodes every live entry on a cold start.
//
// Every decoder rejects a payload larger than MaxSize before looking at it, and returns one of the
// package's sentinel errors (ErrTooLarge, ErrMalformed, ErrVersion, ErrKind, ErrID, ErrField),
// wrapped with a description that never quotes the payload.
//
// The package imports only the standard library.
package events
