package subscriber

import "errors"

// Errors of token verification, wrapped with detail that never quotes the token.
var (
	ErrTokenMissing   = errors.New("subscriber: no access token")
	ErrTokenTooLarge  = errors.New("subscriber: token larger than the size limit")
	ErrTokenMalformed = errors.New("subscriber: malformed token")
	ErrTokenHeader    = errors.New("subscriber: token header rejected")
	ErrUnknownKey     = errors.New("subscriber: token signed by an unknown key")
	ErrTokenInvalid   = errors.New("subscriber: token invalid")
	ErrClaimMissing   = errors.New("subscriber: required claim missing")
	ErrJWKS           = errors.New("subscriber: JWKS")
	ErrStale          = errors.New("subscriber: revocation state is stale")
)
