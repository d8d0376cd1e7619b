// Package storesession adapts a store's session type to issuer.SessionStore: store/redisstore's
// Sessions and store/jsstore's Sessions both plug in through New. The issuer and the stores do not
// import each other (the issuer declares the interface it needs, a store knows nothing of the
// issuer); this package is the wiring between them, used by cmd/revocast and the tests.
package storesession

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/revocast/revocast/issuer"
)

// Session is the constraint of a store's session type: a struct with exactly the fields of
// issuer.Session, so the two convert into each other.
type Session interface {
	~struct {
		ID           string
		Subject      string
		CreatedAt    time.Time
		LastUsed     time.Time
		ExpiresAt    time.Time
		Idle         time.Duration
		UserAgent    string
		IP           string
		RefreshHash  string
		PreviousHash string
		RotatedAt    time.Time
	}
}

// Backend is a store's session API in its own session type S.
type Backend[S Session] interface {
	Create(ctx context.Context, s S) error
	Get(ctx context.Context, sid string) (S, error)
	Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (S, error)
	Delete(ctx context.Context, sid string) (bool, error)
	ListByUser(ctx context.Context, sub string, now time.Time) ([]S, error)
	DeleteAllByUser(ctx context.Context, sub string) (int, error)
	Ping(ctx context.Context) error
}

// Store is an issuer.SessionStore (and issuer.Pinger) backed by a store's Backend.
type Store[S Session] struct {
	b                Backend[S]
	notFound, reused error
}

// New adapts b; notFound and reused are the store's sentinels for a missing session and a reused
// refresh token, mapped to issuer.ErrSessionNotFound and issuer.ErrRefreshReuse.
func New[S Session](b Backend[S], notFound, reused error) *Store[S] {
	return &Store[S]{b: b, notFound: notFound, reused: reused}
}

func (a *Store[S]) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, a.notFound):
		return fmt.Errorf("%w: %w", issuer.ErrSessionNotFound, err)
	case errors.Is(err, a.reused):
		return fmt.Errorf("%w: %w", issuer.ErrRefreshReuse, err)
	}
	return err
}

// Create implements issuer.SessionStore.
func (a *Store[S]) Create(ctx context.Context, s issuer.Session) error {
	return a.mapErr(a.b.Create(ctx, S(s)))
}

// Get implements issuer.SessionStore.
func (a *Store[S]) Get(ctx context.Context, sid string) (issuer.Session, error) {
	s, err := a.b.Get(ctx, sid)
	return issuer.Session(s), a.mapErr(err)
}

// Rotate implements issuer.SessionStore.
func (a *Store[S]) Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (issuer.Session, error) {
	s, err := a.b.Rotate(ctx, sid, presented, next, now, grace)
	return issuer.Session(s), a.mapErr(err)
}

// Delete implements issuer.SessionStore.
func (a *Store[S]) Delete(ctx context.Context, sid string) (bool, error) {
	ok, err := a.b.Delete(ctx, sid)
	return ok, a.mapErr(err)
}

// ListByUser implements issuer.SessionStore.
func (a *Store[S]) ListByUser(ctx context.Context, sub string, now time.Time) ([]issuer.Session, error) {
	list, err := a.b.ListByUser(ctx, sub, now)
	if err != nil {
		return nil, a.mapErr(err)
	}
	out := make([]issuer.Session, len(list))
	for i, s := range list {
		out[i] = issuer.Session(s)
	}
	return out, nil
}

// DeleteAllByUser implements issuer.SessionStore.
func (a *Store[S]) DeleteAllByUser(ctx context.Context, sub string) (int, error) {
	n, err := a.b.DeleteAllByUser(ctx, sub)
	return n, a.mapErr(err)
}

// Ping implements issuer.Pinger.
func (a *Store[S]) Ping(ctx context.Context) error { return a.b.Ping(ctx) }
