package revoker

import (
	"errors"
	"fmt"
)

// Errors returned by the revoker, wrapped with detail (use errors.Is). A store failure wraps both
// ErrStore and the store's own error, so errors.Is works with either.
var (
	// ErrStore means the store did not durably append the revocation: the caller must not assume it
	// took effect and should retry (appending the same revocation twice is harmless).
	ErrStore = errors.New("revoker: store append failed")
	// ErrInvalid means the revocation failed events' Validate after defaults were filled in; nothing
	// was appended. It also wraps the events sentinel (events.ErrID, events.ErrKind, ...).
	ErrInvalid = errors.New("revoker: invalid revocation")
	// ErrPublish is passed to the error handler (never returned) when an appended revocation could not
	// be published on NATS; subscribers still get it from the store by catch-up.
	ErrPublish = errors.New("revoker: publish failed")
	// ErrHeartbeat is passed to the error handler (never returned) when a heartbeat could not be sent,
	// either because the store head could not be read or because the publish failed.
	ErrHeartbeat = errors.New("revoker: heartbeat failed")
	// ErrOption is returned by New when an option is invalid.
	ErrOption = errors.New("revoker: invalid option")
)

// wrap2 returns an error that matches both sentinel and err with errors.Is.
func wrap2(sentinel, err error) error {
	return fmt.Errorf("%w: %w", sentinel, err)
}

// BatchError is the error RevokeBatch returns when it stops part-way. The first Durable revocations
// of the batch (revs[:Durable]) were durably appended, and published unless the publish failed;
// revs[Durable:] were not appended at all. Err wraps the cause (ErrStore and the store's error, or
// the context's error).
type BatchError struct {
	// Durable is how many leading revocations of the batch were durably appended.
	Durable int
	// Last is the sequence of the last durably appended revocation, or 0 if Durable is 0.
	Last uint64
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *BatchError) Error() string {
	return fmt.Sprintf("revoker: batch stopped after %d durable revocations (last seq %d): %v", e.Durable, e.Last, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, ErrStore) works on a *BatchError.
func (e *BatchError) Unwrap() error { return e.Err }
