// Package jssession plugs store/jsstore's Sessions (a JetStream key-value bucket) into the issuer:
// New returns an issuer.SessionStore (and issuer.Pinger). See issuer/storesession.
package jssession

import (
	"github.com/revocast/revocast/issuer/storesession"
	"github.com/revocast/revocast/store/jsstore"
)

// New returns s as an issuer.SessionStore. It never closes the NATS connection behind s.
func New(s *jsstore.Sessions) *storesession.Store[jsstore.Session] {
	return storesession.New[jsstore.Session](s, jsstore.ErrSessionNotFound, jsstore.ErrSessionReuse)
}
