package redisstore

import "errors"

// Errors returned by the store, wrapped with detail (use errors.Is). Errors from Redis and from the
// context are wrapped too, so errors.Is(err, context.Canceled) works.
var (
	// ErrSeqOverflow is returned by Append when the sequence would pass MaxSeq; nothing was appended.
	ErrSeqOverflow = errors.New("redisstore: sequence would exceed 2^53")
	// ErrCorrupt is passed to the error handler (never returned) for a stored entry that does not
	// decode: corruption, or an entry written by a newer version. The entry is skipped.
	ErrCorrupt = errors.New("redisstore: undecodable entry skipped")
	// ErrInvalid is returned by Append when a revocation fails events' Validate; nothing was appended.
	// It also wraps the events sentinel (events.ErrID, events.ErrField, ...).
	ErrInvalid = errors.New("redisstore: invalid revocation")
	// ErrReply is returned when Redis answers with something the store did not write (a key of the
	// wrong type under the prefix, or a reply of an unexpected shape).
	ErrReply = errors.New("redisstore: unexpected reply from redis")
)
