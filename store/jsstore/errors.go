package jsstore

import "errors"

// Errors of the revocation log (Store).
var (
	// ErrInvalid wraps the validation error of a record Append refused (nothing was appended).
	ErrInvalid = errors.New("jsstore: invalid revocation")
	// ErrRetention is returned by Append for a record whose DropAfter lies beyond now + WithMaxAge:
	// the stream would drop it while it can still matter (nothing was appended).
	ErrRetention = errors.New("jsstore: DropAfter beyond the stream's retention (WithMaxAge)")
	// ErrReply is an answer from JetStream this package does not understand.
	ErrReply = errors.New("jsstore: unexpected reply from JetStream")
	// ErrUnknownOutcome is returned by Append when a batch of several records got no
	// acknowledgement: the batch is atomic, so either all of it or none is in the log, but which is
	// unknown. Retrying may store it twice (under new sequence numbers; applying a revocation twice
	// changes nothing). A single record never ends so: its retries are deduplicated.
	ErrUnknownOutcome = errors.New("jsstore: no acknowledgement for an atomic batch; it may or may not be stored")
)

// Errors of Sessions, with the meanings of store/redisstore's.
var (
	// ErrSessionNotFound: no such session, or it ended.
	ErrSessionNotFound = errors.New("jsstore: session not found")
	// ErrSessionReuse: a rotated-out refresh token was presented; the session was deleted.
	ErrSessionReuse = errors.New("jsstore: rotated-out refresh token reused; session deleted")
	// ErrSessionExists: Create of an id already present.
	ErrSessionExists = errors.New("jsstore: session already exists")
)
