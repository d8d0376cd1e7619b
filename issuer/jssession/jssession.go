// Package jssession adapts store/jsstore's Sessions (a JetStream key-value bucket) to
// issuer.SessionStore, as issuer/redissession does for Redis. The issuer and the store do not import
// each other; this package is the wiring, used by cmd/revocast (revocast dev) and the tests.
package jssession

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/store/jsstore"
)

// Store is an issuer.SessionStore backed by *jsstore.Sessions. It also implements issuer.Pinger.
type Store struct {
	s *jsstore.Sessions
}

// New returns s as an issuer.SessionStore.
func New(s *jsstore.Sessions) *Store { return &Store{s: s} }

var _ issuer.SessionStore = (*Store)(nil)

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jsstore.ErrSessionNotFound):
		return fmt.Errorf("%w: %w", issuer.ErrSessionNotFound, err)
	case errors.Is(err, jsstore.ErrSessionReuse):
		return fmt.Errorf("%w: %w", issuer.ErrRefreshReuse, err)
	}
	return err
}

// Create implements issuer.SessionStore.
func (a *Store) Create(ctx context.Context, s issuer.Session) error {
	return mapErr(a.s.Create(ctx, jsstore.Session(s)))
}

// Get implements issuer.SessionStore.
func (a *Store) Get(ctx context.Context, sid string) (issuer.Session, error) {
	s, err := a.s.Get(ctx, sid)
	return issuer.Session(s), mapErr(err)
}

// Rotate implements issuer.SessionStore.
func (a *Store) Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (issuer.Session, error) {
	s, err := a.s.Rotate(ctx, sid, presented, next, now, grace)
	return issuer.Session(s), mapErr(err)
}

// Delete implements issuer.SessionStore.
func (a *Store) Delete(ctx context.Context, sid string) (bool, error) {
	ok, err := a.s.Delete(ctx, sid)
	return ok, mapErr(err)
}

// ListByUser implements issuer.SessionStore.
func (a *Store) ListByUser(ctx context.Context, sub string, now time.Time) ([]issuer.Session, error) {
	list, err := a.s.ListByUser(ctx, sub, now)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]issuer.Session, len(list))
	for i, s := range list {
		out[i] = issuer.Session(s)
	}
	return out, nil
}

// DeleteAllByUser implements issuer.SessionStore.
func (a *Store) DeleteAllByUser(ctx context.Context, sub string) (int, error) {
	n, err := a.s.DeleteAllByUser(ctx, sub)
	return n, mapErr(err)
}

// Ping implements issuer.Pinger.
func (a *Store) Ping(ctx context.Context) error { return a.s.Ping(ctx) }
