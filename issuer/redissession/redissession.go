// Package redissession plugs store/redisstore's Sessions into the issuer: New returns an
// issuer.SessionStore (and issuer.Pinger, so /readyz checks Redis). See issuer/storesession.
package redissession

import (
	"github.com/revocast/revocast/issuer/storesession"
	"github.com/revocast/revocast/store/redisstore"
)

// New returns s as an issuer.SessionStore. It never closes the Redis client behind s.
func New(s *redisstore.Sessions) *storesession.Store[redisstore.Session] {
	return storesession.New[redisstore.Session](s, redisstore.ErrSessionNotFound, redisstore.ErrSessionReuse)
}
