package issuer

import (
	"errors"
	"net/http"

	"github.com/revocast/revocast/subscriber"
)

// SilentRefresh returns middleware for web backends that live beside the issuer (same site, so they
// receive its cookies). For each request:
//
//   - a valid access cookie: its claims go into the request context (subscriber.ClaimsFrom) and
//     next runs. The access token is not checked against revocations here: wrap next with the
//     subscriber middleware for that, as in any service.
//   - no valid access cookie (absent, expired, bad) and a refresh cookie: the pair is rotated as by
//     POST /v1/refresh, the new cookies are set on the response, the new claims go into the
//     context, and next runs. A revoked session was deleted from the store, so its refresh cookie
//     is refused: SilentRefresh never revives a revoked session. A refused refresh clears both
//     cookies and next runs without claims (the backend decides: redirect to login, or 401). A
//     reused refresh token revokes the session, as on the refresh endpoint.
//   - neither: next runs without claims.
//
// If the session store or the revoker fails, SilentRefresh answers 503 with Retry-After itself.
// The refresh cookie is only sent by browsers on paths under Config.RefreshCookiePath ("/v1/" by
// default): set it to "/" for backends serving other paths.
func (is *Issuer) SilentRefresh(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if at := cookieValue(r, is.atCookie); at != "" {
			if c, err := is.verify(at); err == nil {
				next.ServeHTTP(w, r.WithContext(subscriber.WithClaims(r.Context(), c.subscriberClaims())))
				return
			}
		}
		rt := cookieValue(r, is.rtCookie)
		if rt == "" {
			next.ServeHTTP(w, r)
			return
		}
		res, err := is.refresh(r.Context(), rt)
		switch {
		case errors.Is(err, ErrInvalidGrant):
			is.clearCookies(w)
			next.ServeHTTP(w, r)
			return
		case err != nil:
			is.writeError(w, r, err)
			return
		}
		is.setCookies(w, res.access, res.refresh, res.sess.end(), res.now)
		next.ServeHTTP(w, r.WithContext(subscriber.WithClaims(r.Context(), res.claims.subscriberClaims())))
	})
}
