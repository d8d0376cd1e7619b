package events

import "errors"

// Errors returned by the decoders and by Validate, wrapped with detail (use errors.Is). The detail
// never contains the payload or any part of it, so an error can be logged safely.
var (
	ErrTooLarge  = errors.New("events: payload larger than 4 KiB")
	ErrMalformed = errors.New("events: malformed payload")
	ErrVersion   = errors.New("events: unknown version")
	ErrKind      = errors.New("events: unknown kind")
	ErrID        = errors.New("events: invalid id")
	ErrField     = errors.New("events: invalid field")
)
