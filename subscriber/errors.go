package subscriber

import (
	"errors"

	"github.com/revocast/revocast/events"
)

// Errors of the subscriber. Check returns errors wrapping ErrRevoked (use errors.As with
// *RevokedError to learn the kind) or ErrIncomplete.
var (
	ErrRevoked    = errors.New("subscriber: token revoked")
	ErrIncomplete = errors.New("subscriber: token lacks jti or sid, so it cannot be checked for revocation")
	ErrClosed     = errors.New("subscriber: closed")
	ErrStarted    = errors.New("subscriber: already started")
	ErrOption     = errors.New("subscriber: invalid option")
	ErrCatchUp    = errors.New("subscriber: catch-up from the store failed")
	ErrRegressed  = errors.New("subscriber: the store's log regressed (acknowledged entries lost)")
	ErrEvent      = errors.New("subscriber: invalid event dropped")
	ErrSignature  = errors.New("subscriber: event not signed by a trusted key; dropped")
)

// RevokedError says which kind of revocation matched. It wraps ErrRevoked.
type RevokedError struct {
	Kind events.Kind
}

func (e *RevokedError) Error() string { return "subscriber: token revoked (" + e.Kind.String() + ")" }

// Unwrap returns ErrRevoked.
func (e *RevokedError) Unwrap() error { return ErrRevoked }

// One shared value per kind, so Check does not allocate.
var revokedErrs = [...]*RevokedError{
	events.KindToken:   {Kind: events.KindToken},
	events.KindSession: {Kind: events.KindSession},
	events.KindSubject: {Kind: events.KindSubject},
	events.KindAll:     {Kind: events.KindAll},
}
