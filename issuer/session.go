package issuer

import (
	"context"
	"time"
)

// Session is one login session as the SessionStore keeps it. Times have microsecond precision.
type Session struct {
	// ID is the session id (the sid claim).
	ID string
	// Subject is the user (the sub claim).
	Subject string
	// CreatedAt is when the session was created (login).
	CreatedAt time.Time
	// LastUsed is when the session was created or last refreshed.
	LastUsed time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	// Idle is the idle timeout: the session ends at LastUsed + Idle if that is before ExpiresAt.
	Idle time.Duration
	// UserAgent and IP describe the client that logged in.
	UserAgent string
	IP        string
	// RefreshHash is the hash of the current refresh token.
	RefreshHash string
	// PreviousHash is the hash of its immediate predecessor ("" before the first rotation).
	PreviousHash string
	// RotatedAt is when PreviousHash was rotated out.
	RotatedAt time.Time
}

// end is when the session ends if it is not used again.
func (s *Session) end() time.Time {
	idle := s.LastUsed.Add(s.Idle)
	if idle.Before(s.ExpiresAt) {
		return idle
	}
	return s.ExpiresAt
}

// SessionStore keeps sessions. store/redisstore's Sessions implements it through the adapter in
// issuer/redissession; implementations must be safe for concurrent use, and every method is one
// atomic step.
type SessionStore interface {
	// Create stores a new session (LastUsed = CreatedAt, no predecessor).
	Create(ctx context.Context, s Session) error
	// Get returns the session, or an error wrapping ErrSessionNotFound.
	Get(ctx context.Context, sid string) (Session, error)
	// Rotate replaces the refresh token hash presented by next, atomically, and returns the session
	// after the change: presented == current → rotate (the current becomes the predecessor, rotated
	// at now); presented == predecessor within grace of its rotation → next becomes current, the
	// predecessor stays; presented == a rotated-out hash otherwise → the session is deleted and the
	// error wraps ErrRefreshReuse; unknown hash, no session or a session ended at now → the error
	// wraps ErrSessionNotFound and nothing changes.
	Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (Session, error)
	// Delete removes the session; it reports whether it existed.
	Delete(ctx context.Context, sid string) (bool, error)
	// ListByUser returns the sessions of sub still alive at now.
	ListByUser(ctx context.Context, sub string, now time.Time) ([]Session, error)
	// DeleteAllByUser deletes every session of sub and returns how many there were.
	DeleteAllByUser(ctx context.Context, sub string) (int, error)
}
