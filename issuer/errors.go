package issuer

import "errors"

// Errors returned by the issuer and mapped to HTTP answers in one table (see errorTable), wrapped
// with detail (use errors.Is). The detail never contains a token, a password or a secret.
var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("issuer: invalid config")
	// ErrBadRequest: a malformed request body or parameter (400 invalid_request).
	ErrBadRequest = errors.New("issuer: malformed request")
	// ErrTooLarge: a request body over 64 KiB (413 request_too_large).
	ErrTooLarge = errors.New("issuer: request body too large")
	// ErrInvalidCredentials: unknown user or wrong password (401 invalid_credentials).
	ErrInvalidCredentials = errors.New("issuer: invalid credentials")
	// ErrInvalidGrant: a refresh token that is missing, unknown, expired or reused (401 invalid_grant).
	ErrInvalidGrant = errors.New("issuer: invalid refresh token")
	// ErrInvalidToken: a missing, malformed, expired or revoked access token (401 invalid_token).
	ErrInvalidToken = errors.New("issuer: invalid access token")
	// ErrForbidden: the caller lacks the role, or a cross-origin request was refused (403 forbidden).
	ErrForbidden = errors.New("issuer: forbidden")
	// ErrNotFound: no such resource, or not the caller's (404 not_found).
	ErrNotFound = errors.New("issuer: not found")
	// ErrMethod: the path exists but not with that method (405 method_not_allowed).
	ErrMethod = errors.New("issuer: method not allowed")
	// ErrRateLimited: too many login attempts for the user or the client address (429 rate_limited).
	ErrRateLimited = errors.New("issuer: rate limited")
	// ErrUnavailable: the session store or the revoker failed; nothing was reported as done (503
	// unavailable, with Retry-After).
	ErrUnavailable = errors.New("issuer: dependency unavailable")
	// ErrNotReady: a readiness check failed (503 not_ready).
	ErrNotReady = errors.New("issuer: not ready")

	// ErrSessionNotFound must be returned (wrapped or not) by a SessionStore when the session does
	// not exist or, from Rotate, when the presented hash is unknown to the session.
	ErrSessionNotFound = errors.New("issuer: session not found")
	// ErrRefreshReuse must be returned by SessionStore.Rotate when a rotated-out refresh token was
	// presented outside the grace rules; the store has deleted the session.
	ErrRefreshReuse = errors.New("issuer: rotated-out refresh token reused")
	// ErrPassword is returned by HashPassword for invalid parameters and by the users loader for a
	// hash it cannot parse.
	ErrPassword = errors.New("issuer: invalid password hash or parameters")
)

// apiError is one row of the error table: an HTTP status and the stable error code of the body.
type apiError struct {
	status  int
	code    string
	message string
}

// errorTable maps every sentinel to its answer. Anything not in it is 500 internal_error.
var errorTable = []struct {
	err error
	api apiError
}{
	{ErrBadRequest, apiError{400, "invalid_request", "the request is malformed"}},
	{ErrInvalidCredentials, apiError{401, "invalid_credentials", "unknown user or wrong password"}},
	{ErrInvalidGrant, apiError{401, "invalid_grant", "the refresh token is invalid, expired or revoked"}},
	{ErrInvalidToken, apiError{401, "invalid_token", "a valid access token is required"}},
	{ErrForbidden, apiError{403, "forbidden", "not allowed"}},
	{ErrNotFound, apiError{404, "not_found", "not found"}},
	{ErrMethod, apiError{405, "method_not_allowed", "method not allowed"}},
	{ErrTooLarge, apiError{413, "request_too_large", "the request body is larger than 64 KiB"}},
	{ErrRateLimited, apiError{429, "rate_limited", "too many attempts, retry later"}},
	{ErrUnavailable, apiError{503, "unavailable", "temporarily unavailable, retry later"}},
	{ErrNotReady, apiError{503, "not_ready", "not ready"}},
}

var internalError = apiError{500, "internal_error", "internal error"}

// lookupError returns the answer for err.
func lookupError(err error) apiError {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.api
		}
	}
	return internalError
}
