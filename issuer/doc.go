// Package issuer is the revocast issuer: the HTTP service users log in to. It mints short-lived
// access JWTs, keeps sessions with rotating refresh tokens, and ends every session through the
// revoker, so that each logout is durable and broadcast to every service.
//
// # HTTP API
//
//	POST   /v1/login              {"username","password"} → 200 tokens + cookies; 401 invalid_credentials; 429
//	POST   /v1/refresh            {"refresh_token"} or the refresh cookie → 200 tokens (rotated); 401 invalid_grant
//	POST   /v1/logout             Bearer or cookies → 204, session revoked, cookies cleared
//	POST   /v1/logout-all         Bearer → 204, subject revoked (tokens issued before now), sessions deleted
//	GET    /v1/sessions           Bearer → {"sessions":[{id,created,last_used,user_agent,ip,current}]}
//	DELETE /v1/sessions/{id}      Bearer → 204, that session revoked; 404 for another user's session
//	POST   /v1/revocations        Bearer with role admin, {"kind","id","not_before","reason"} → 202 {"seq":N}; 403
//	GET    /.well-known/jwks.json the public keys (RFC 7517; OKP/Ed25519 per RFC 8037, EC P-256, RSA)
//	GET    /healthz, /readyz      alive; ready (session store and Config.Ready dependencies answer)
//
// Tokens: 200 answers of login and refresh are
// {"access_token","refresh_token","token_type":"Bearer", "expires_in","session_id"}; with
// "cookie_only":true in the request body the two tokens are left out (they are only in the
// HttpOnly cookies: the web console's JavaScript never sees a token). Errors are
// {"error":"code","message":"…"} from one table (errors.go): 400 invalid_request (malformed body),
// 401 invalid_credentials / invalid_grant / invalid_token, 403 forbidden, 404 not_found, 405
// method_not_allowed, 413 request_too_large (bodies over 64 KiB), 429 rate_limited and 503
// unavailable (both with Retry-After), anything else 500 internal_error with the details only in
// the log. A failed store or revoker write is never answered with success.
//
// # Access tokens
//
// JWTs with header typ "at+jwt" and kid, and claims iss, sub, aud, exp, iat, nbf, jti (128 random
// bits), sid, name, email, roles. iat is truncated to the microsecond and written as a fractional
// NumericDate ("1700000000.123456") by the issuer's own claim marshalling: golang-jwt's
// TimePrecision is a package global that a library must not change. logout-all revokes the subject
// with not_before = now truncated to the microsecond plus one microsecond, so every token minted
// before the call has iat < not_before and a login right after it (a microsecond or more later) has
// iat >= not_before: logging in again within the same second works.
//
// # Refresh tokens and theft detection
//
// A refresh token is "<sid>.<256 random bits>", base64url; only its SHA-256 is stored, with its
// session. Every refresh rotates it. Presenting the current token rotates; presenting its immediate
// predecessor within Config.RefreshGrace (10s) of the rotation also succeeds (two tabs refreshing
// at once): it mints a new current token and keeps the same predecessor, so the grace window is
// never extended. Of N concurrent refreshes with one token all succeed and the last to commit holds
// the surviving chain; the tokens the others received are forgotten (presenting one later is a
// plain 401, not theft). Presenting the predecessor after the grace window, or an older rotated-out
// token (the last 16 are remembered), is reuse: the session is deleted, revoked through the revoker
// (kind session, reason "refresh_reuse") and the answer is 401.
//
// # Keys
//
// Config.KeysDir holds one PKCS#8 PEM private key per file named <kid>.pem (Ed25519, P-256 or RSA
// of at least 2048 bits). The newest file (modification time, then name) signs; all are published
// in the JWKS and accepted, so rotation is: add a key, remove the old one after AccessTTL. The
// directory is re-read when its modification time changes (one stat per JWKS request or unknown
// kid). With no key in it, New generates one (Config.Algorithm, Ed25519 by default) and writes it
// 0600 atomically (temporary file, sync, rename). Two instances starting at once on an empty
// directory may both generate a key; both are valid and published, each instance signs with the
// newest it has read, and tokens of either verify on both.
//
// # Users
//
// Config.Users is a JSON file {"users":[{"username","password_hash","roles","name","email"}]} with
// argon2id PHC hashes ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") or bcrypt hashes; HashPassword
// makes them. ReloadUsers re-reads it. A login for an unknown user is compared against a dummy hash
// made with Config.PasswordHash, so it takes about as long as a wrong password for a user hashed
// with those parameters, and gets the same 401 body. Login attempts are rate limited per username
// and per client address (token buckets in memory, bounded, per instance).
//
// # Cookies and CSRF
//
// Login and refresh also set two HttpOnly, SameSite=Lax cookies: the access token "__Host-
// revocast_at" (Path=/) and the refresh token "__Secure-revocast_rt" (Path=/v1/, or
// Config.RefreshCookiePath), both Secure. With Config.InsecureCookies (plain-http development) they
// are "revocast_at" and "revocast_rt" without Secure, since browsers refuse the __Host- and
// __Secure- prefixes on cookies that are not Secure. POST and DELETE requests are guarded by
// http.CrossOriginProtection: a cross-site browser request (Sec-Fetch-Site or Origin) gets 403.
// SilentRefresh is middleware for web backends on the same site.
//
// # Audit
//
// Config.Logger gets one "audit" line per login, failed login, logout, logout-all, session
// deletion, refresh-token reuse and admin revocation, with sub, sid and ip; never a token, secret
// or password.
package issuer
