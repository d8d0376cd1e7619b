package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/subscriber"
)

// Limits on login fields.
const (
	maxUsernameLen = events.MaxIDLen
	maxPasswordLen = 1024
	maxUserAgent   = 256
)

// tokenResponse is the body of a successful login or refresh.
type tokenResponse struct {
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	SessionID    string `json:"session_id"`
}

// loginRequest is the body of POST /v1/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// CookieOnly leaves the tokens out of the response body: the browser keeps them in HttpOnly
	// cookies and the page's JavaScript never sees them (the web console logs in this way).
	CookieOnly bool `json:"cookie_only"`
}

func (q *loginRequest) check() error {
	if q.Username == "" || q.Password == "" || len(q.Username) > maxUsernameLen || len(q.Password) > maxPasswordLen {
		return fmt.Errorf("%w: username and password are required (at most %d and %d bytes)", ErrBadRequest, maxUsernameLen, maxPasswordLen)
	}
	return nil
}

// refreshRequest is the body of POST /v1/refresh (optional when the refresh cookie is sent).
type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
	CookieOnly   bool   `json:"cookie_only"` // as in loginRequest
}

// revocationRequest is the body of POST /v1/revocations.
type revocationRequest struct {
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	NotBefore string `json:"not_before"`
	Reason    string `json:"reason"`
}

// revocation converts the request to a revocation, or ErrBadRequest.
func (q *revocationRequest) revocation() (events.Revocation, error) {
	kind, err := events.ParseKind(q.Kind)
	if err != nil {
		return events.Revocation{}, fmt.Errorf("%w: kind: want token, session, subject or all", ErrBadRequest)
	}
	rev := events.Revocation{Kind: kind, ID: q.ID, Reason: q.Reason}
	if rev.Reason == "" {
		rev.Reason = "admin"
	}
	if kind == events.KindAll {
		if q.ID != "" {
			return rev, fmt.Errorf("%w: kind all takes no id", ErrBadRequest)
		}
	} else if err := events.ValidID(q.ID); err != nil {
		return rev, fmt.Errorf("%w: id: %w", ErrBadRequest, err)
	}
	if q.NotBefore != "" {
		if kind != events.KindSubject && kind != events.KindAll {
			return rev, fmt.Errorf("%w: not_before is only for kinds subject and all", ErrBadRequest)
		}
		t, err := time.Parse(time.RFC3339Nano, q.NotBefore)
		if err != nil {
			return rev, fmt.Errorf("%w: not_before: want RFC 3339", ErrBadRequest)
		}
		rev.NotBefore = ceilPrecision(t.UTC())
	}
	if len(rev.Reason) > events.MaxReasonLen {
		return rev, fmt.Errorf("%w: reason longer than %d bytes", ErrBadRequest, events.MaxReasonLen)
	}
	return rev, nil
}

func (is *Issuer) handleLogin(w http.ResponseWriter, r *http.Request) {
	var q loginRequest
	if _, err := readBody(w, r, &q, false); err != nil {
		is.writeError(w, r, err)
		return
	}
	if err := q.check(); err != nil {
		is.writeError(w, r, err)
		return
	}
	now := is.cfg.Clock()
	ip := is.cfg.ClientIP(r)
	if ok, wait := is.byIP.allow(ip, now); !ok {
		is.audit(r.Context(), slog.LevelInfo, "login_rate_limited", "by", "ip", "ip", ip)
		is.writeError(w, r, &retryError{err: ErrRateLimited, after: wait})
		return
	}
	if ok, wait := is.byUser.allow(q.Username, now); !ok {
		is.audit(r.Context(), slog.LevelInfo, "login_rate_limited", "by", "user", "ip", ip)
		is.writeError(w, r, &retryError{err: ErrRateLimited, after: wait})
		return
	}
	u, ok, err := is.checkPassword(r.Context(), q.Username, q.Password)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	if !ok {
		// The username is not logged: a user may have typed a password into it.
		is.audit(r.Context(), slog.LevelInfo, "login_failed", "ip", ip)
		is.writeError(w, r, ErrInvalidCredentials)
		return
	}
	now = is.cfg.Clock()
	created := issuedAt(now)
	sid := randomString(16)
	refresh := newRefreshToken(sid)
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	sess := Session{
		ID: sid, Subject: u.Username, CreatedAt: created, LastUsed: created,
		ExpiresAt: created.Add(is.cfg.SessionLifetime), Idle: is.cfg.SessionIdle,
		UserAgent: ua, IP: ip, RefreshHash: refreshHash(refresh),
	}
	if err := is.cfg.Sessions.Create(r.Context(), sess); err != nil {
		is.writeError(w, r, unavailable("create session", err))
		return
	}
	access, _, err := is.mint(u, sid, now)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	is.audit(r.Context(), slog.LevelInfo, "login", "sub", u.Username, "sid", sid, "ip", ip)
	is.answerTokens(w, access, refresh, sid, sess.end(), now, q.CookieOnly)
}

// checkPassword verifies password for username, comparing against the dummy hash for an unknown
// user. At most MaxConcurrentHashes run at once.
func (is *Issuer) checkPassword(ctx context.Context, username, password string) (*User, bool, error) {
	select {
	case is.hashSem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	defer func() { <-is.hashSem }()
	u := is.user(username)
	if u == nil {
		is.dummy(password)
		return nil, false, nil
	}
	return u, u.verify(password), nil
}

func (is *Issuer) answerTokens(w http.ResponseWriter, access, refresh, sid string, refreshUntil, now time.Time, cookieOnly bool) {
	is.setCookies(w, access, refresh, refreshUntil, now)
	resp := tokenResponse{
		AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(is.cfg.AccessTTL / time.Second), SessionID: sid,
	}
	if cookieOnly {
		resp.AccessToken, resp.RefreshToken = "", ""
	}
	writeJSON(w, http.StatusOK, resp)
}

// Caller verifies the access token of r (Authorization: Bearer, else the access cookie) and that
// its session is alive, and returns its claims: for handlers served beside the issuer (the web
// console). Errors answer 401 (or 503 when the session store fails) through the issuer's error
// table; see WriteError.
func (is *Issuer) Caller(r *http.Request) (*subscriber.Claims, error) {
	c, err := is.authenticate(r)
	if err != nil {
		return nil, err
	}
	return c.claims.subscriberClaims(), nil
}

// WriteError answers err as the issuer's API does (its JSON error body and status).
func (is *Issuer) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	is.writeError(w, r, err)
}

// refreshed is the result of a successful rotation.
type refreshed struct {
	access, refresh string
	claims          *accessClaims
	sess            Session
	now             time.Time
}

// refresh rotates the refresh token presented and mints a new access token. It returns
// ErrInvalidGrant for a token it does not accept (revoking the session on reuse) and ErrUnavailable
// when the store or the revoker failed.
func (is *Issuer) refresh(ctx context.Context, presented string) (rf *refreshed, err error) {
	defer func() {
		if err == nil {
			is.counters.add("refresh")
		} else {
			is.counters.add("refresh_failed")
		}
	}()
	sid, ok := refreshSID(presented)
	if !ok {
		return nil, fmt.Errorf("%w: malformed refresh token", ErrInvalidGrant)
	}
	next := newRefreshToken(sid)
	now := is.cfg.Clock()
	sess, err := is.cfg.Sessions.Rotate(ctx, sid, refreshHash(presented), refreshHash(next), issuedAt(now), is.cfg.RefreshGrace)
	switch {
	case errors.Is(err, ErrRefreshReuse):
		is.audit(ctx, slog.LevelWarn, "refresh_reuse", "sid", sid)
		if err := is.revokeSession(ctx, sid, "refresh_reuse"); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: reused refresh token; session revoked", ErrInvalidGrant)
	case errors.Is(err, ErrSessionNotFound):
		return nil, fmt.Errorf("%w: %w", ErrInvalidGrant, err)
	case err != nil:
		return nil, unavailable("rotate", err)
	}
	u := is.user(sess.Subject)
	if u == nil {
		// The user was removed from the users file: end the session.
		is.audit(ctx, slog.LevelInfo, "session_ended_user_removed", "sid", sid)
		if err := is.revokeSession(ctx, sid, "user_removed"); err != nil {
			return nil, err
		}
		if _, err := is.cfg.Sessions.Delete(ctx, sid); err != nil {
			return nil, unavailable("delete session", err)
		}
		return nil, fmt.Errorf("%w: user no longer exists", ErrInvalidGrant)
	}
	access, claims, err := is.mint(u, sid, now)
	if err != nil {
		return nil, err
	}
	return &refreshed{access: access, refresh: next, claims: claims, sess: sess, now: now}, nil
}

// revokeSession revokes every token of session sid through the revoker. The session store may
// already have deleted the session (reuse), so this is the only record left: it is retried a few
// times, detached from the request's cancellation, before giving up with ErrUnavailable.
func (is *Issuer) revokeSession(ctx context.Context, sid, reason string) error {
	_, err := is.revokeRetried(ctx, events.Revocation{Kind: events.KindSession, ID: sid, Reason: reason})
	return err
}

// revokeRetried revokes rev through the revoker, retried a few times, detached from the request's
// cancellation, before giving up with ErrUnavailable: it is used when the session store has
// already forgotten what it revokes, so the revocation is the only record left. It writes the
// audit line <kind>_revoked or <kind>_revoke_failed.
func (is *Issuer) revokeRetried(ctx context.Context, rev events.Revocation) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	idKey := "sid"
	if rev.Kind == events.KindSubject {
		idKey = "sub"
	}
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
				return 0, unavailable("revoke "+rev.Kind.String(), ctx.Err())
			}
		}
		var seq uint64
		seq, err = is.cfg.Revoker.Revoke(ctx, rev)
		if err == nil {
			is.audit(ctx, slog.LevelInfo, rev.Kind.String()+"_revoked", idKey, rev.ID, "reason", rev.Reason, "seq", seq)
			return seq, nil
		}
	}
	is.audit(ctx, slog.LevelError, rev.Kind.String()+"_revoke_failed", idKey, rev.ID, "reason", rev.Reason, "err", err)
	return 0, unavailable("revoke "+rev.Kind.String(), err)
}

func (is *Issuer) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var q refreshRequest
	if _, err := readBody(w, r, &q, true); err != nil {
		is.writeError(w, r, err)
		return
	}
	token := q.RefreshToken
	if token == "" {
		token = cookieValue(r, is.rtCookie)
	}
	if token == "" {
		is.writeError(w, r, fmt.Errorf("%w: no refresh token", ErrInvalidGrant))
		return
	}
	res, err := is.refresh(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrInvalidGrant) {
			is.clearCookies(w)
		}
		is.writeError(w, r, err)
		return
	}
	is.answerTokens(w, res.access, res.refresh, res.sess.ID, res.sess.end(), res.now, q.CookieOnly)
}

// caller is who a request is made by: the verified access token and its live session.
type caller struct {
	claims *accessClaims
	sess   Session
}

// authenticate verifies the access token of r (Authorization: Bearer, else the access cookie) and
// checks that its session is alive in the store (so a revoked session's tokens are refused here
// even before they expire: revoked sessions are deleted).
func (is *Issuer) authenticate(r *http.Request) (*caller, error) {
	token := bearer(r)
	if token == "" {
		token = cookieValue(r, is.atCookie)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: no access token", ErrInvalidToken)
	}
	c, err := is.verify(token)
	if err != nil {
		return nil, err
	}
	sess, err := is.liveSession(r.Context(), c.SessionID)
	if err != nil {
		return nil, err
	}
	if sess.Subject != c.Subject {
		return nil, fmt.Errorf("%w: session of another subject", ErrInvalidToken)
	}
	return &caller{claims: c, sess: sess}, nil
}

// liveSession returns the session if it exists and has not ended by the issuer's clock.
func (is *Issuer) liveSession(ctx context.Context, sid string) (Session, error) {
	sess, err := is.cfg.Sessions.Get(ctx, sid)
	if errors.Is(err, ErrSessionNotFound) {
		return Session{}, fmt.Errorf("%w: session ended", ErrInvalidToken)
	}
	if err != nil {
		return Session{}, unavailable("get session", err)
	}
	if !is.cfg.Clock().Before(sess.end()) {
		return Session{}, fmt.Errorf("%w: session ended", ErrInvalidToken)
	}
	return sess, nil
}

func (is *Issuer) handleLogout(w http.ResponseWriter, r *http.Request) {
	sid, sub, err := is.logoutTarget(r)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	if err := is.revokeSession(r.Context(), sid, "logout"); err != nil {
		is.writeError(w, r, err)
		return
	}
	if _, err := is.cfg.Sessions.Delete(r.Context(), sid); err != nil {
		is.writeError(w, r, unavailable("delete session", err))
		return
	}
	is.audit(r.Context(), slog.LevelInfo, "logout", "sub", sub, "sid", sid)
	is.clearCookies(w)
	w.WriteHeader(http.StatusNoContent)
}

// logoutTarget finds the session to log out: from a valid access token (Bearer or cookie; its
// session may already be gone, which makes logout idempotent), else from the refresh cookie, which
// must be the session's current token or its predecessor.
func (is *Issuer) logoutTarget(r *http.Request) (sid, sub string, err error) {
	token := bearer(r)
	if token == "" {
		token = cookieValue(r, is.atCookie)
	}
	if token != "" {
		if c, verr := is.verify(token); verr == nil {
			return c.SessionID, c.Subject, nil
		} else if bearer(r) != "" {
			return "", "", verr
		}
	}
	rt := cookieValue(r, is.rtCookie)
	if rt == "" {
		return "", "", fmt.Errorf("%w: no access token or refresh cookie", ErrInvalidToken)
	}
	sid, ok := refreshSID(rt)
	if !ok {
		return "", "", fmt.Errorf("%w: malformed refresh cookie", ErrInvalidToken)
	}
	sess, err := is.cfg.Sessions.Get(r.Context(), sid)
	if errors.Is(err, ErrSessionNotFound) {
		return "", "", fmt.Errorf("%w: session ended", ErrInvalidToken)
	}
	if err != nil {
		return "", "", unavailable("get session", err)
	}
	if h := refreshHash(rt); h != sess.RefreshHash && h != sess.PreviousHash {
		return "", "", fmt.Errorf("%w: refresh cookie does not match", ErrInvalidToken)
	}
	return sid, sess.Subject, nil
}

func (is *Issuer) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	c, err := is.authenticate(r)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	sub := c.claims.Subject
	// The sessions go first, then the revocation, with a not_before taken after the deletion: a
	// refresh racing with this call either finds its session gone, or rotated it before the
	// deletion and minted its token with an iat (the time the refresh started) before not_before.
	// Revoking first would let a refresh between the two steps mint a token the revocation does
	// not cover, valid until it expires. (Found by the console's author; TestLogoutAllRacingRefresh.)
	n, err := is.cfg.Sessions.DeleteAllByUser(r.Context(), sub)
	if err != nil {
		is.writeError(w, r, unavailable("delete sessions", err))
		return
	}
	nb := notBeforeAt(is.cfg.Clock())
	seq, err := is.revokeRetried(r.Context(), events.Revocation{Kind: events.KindSubject, ID: sub, NotBefore: nb, Reason: "logout_all"})
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	is.audit(r.Context(), slog.LevelInfo, "logout_all", "sub", sub, "sessions", n, "seq", seq)
	is.clearCookies(w)
	w.WriteHeader(http.StatusNoContent)
}

// sessionView is one entry of GET /v1/sessions.
type sessionView struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip"`
	Current   bool      `json:"current"`
}

func (is *Issuer) handleSessions(w http.ResponseWriter, r *http.Request) {
	c, err := is.authenticate(r)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	list, err := is.cfg.Sessions.ListByUser(r.Context(), c.claims.Subject, is.cfg.Clock())
	if err != nil {
		is.writeError(w, r, unavailable("list sessions", err))
		return
	}
	out := struct {
		Sessions []sessionView `json:"sessions"`
	}{Sessions: make([]sessionView, 0, len(list))}
	for _, s := range list {
		out.Sessions = append(out.Sessions, sessionView{
			ID: s.ID, Created: s.CreatedAt, LastUsed: s.LastUsed, UserAgent: s.UserAgent, IP: s.IP,
			Current: s.ID == c.claims.SessionID,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (is *Issuer) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	c, err := is.authenticate(r)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	sess, err := is.cfg.Sessions.Get(r.Context(), id)
	if errors.Is(err, ErrSessionNotFound) || (err == nil && sess.Subject != c.claims.Subject) {
		is.writeError(w, r, ErrNotFound)
		return
	}
	if err != nil {
		is.writeError(w, r, unavailable("get session", err))
		return
	}
	if err := is.revokeSession(r.Context(), id, "session_deleted"); err != nil {
		is.writeError(w, r, err)
		return
	}
	if _, err := is.cfg.Sessions.Delete(r.Context(), id); err != nil {
		is.writeError(w, r, unavailable("delete session", err))
		return
	}
	is.audit(r.Context(), slog.LevelInfo, "session_deleted", "sub", c.claims.Subject, "sid", id)
	if id == c.claims.SessionID {
		is.clearCookies(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (is *Issuer) handleRevocation(w http.ResponseWriter, r *http.Request) {
	c, err := is.authenticate(r)
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	if !c.claims.hasRole("admin") {
		is.audit(r.Context(), slog.LevelInfo, "admin_revocation_denied", "sub", c.claims.Subject)
		is.writeError(w, r, fmt.Errorf("%w: role admin required", ErrForbidden))
		return
	}
	var q revocationRequest
	if _, err := readBody(w, r, &q, false); err != nil {
		is.writeError(w, r, err)
		return
	}
	rev, err := q.revocation()
	if err != nil {
		is.writeError(w, r, err)
		return
	}
	if (rev.Kind == events.KindSubject || rev.Kind == events.KindAll) && rev.NotBefore.IsZero() {
		rev.NotBefore = notBeforeAt(is.cfg.Clock())
	}
	seq, err := is.cfg.Revoker.Revoke(r.Context(), rev)
	if err != nil {
		if errors.Is(err, events.ErrField) || errors.Is(err, events.ErrID) || errors.Is(err, events.ErrKind) {
			is.writeError(w, r, fmt.Errorf("%w: %w", ErrBadRequest, err))
			return
		}
		is.writeError(w, r, unavailable("revoke", err))
		return
	}
	// A revoked session or subject must not be able to mint new tokens by refreshing.
	switch rev.Kind {
	case events.KindSession:
		_, err = is.cfg.Sessions.Delete(r.Context(), rev.ID)
	case events.KindSubject:
		err = is.deleteSessionsBefore(r.Context(), rev.ID, rev.NotBefore)
	}
	if err != nil {
		is.writeError(w, r, unavailable("delete sessions", err))
		return
	}
	is.audit(r.Context(), slog.LevelInfo, "admin_revocation", "admin", c.claims.Subject,
		"kind", rev.Kind.String(), "id", rev.ID, "reason", rev.Reason, "seq", seq)
	writeJSON(w, http.StatusAccepted, map[string]uint64{"seq": seq})
}

// deleteSessionsBefore deletes the sessions of sub created before nb (all of them when nb is not in
// the past): their refresh tokens would otherwise mint tokens the subject revocation does not
// cover.
func (is *Issuer) deleteSessionsBefore(ctx context.Context, sub string, nb time.Time) error {
	now := is.cfg.Clock()
	if !nb.Before(now) {
		_, err := is.cfg.Sessions.DeleteAllByUser(ctx, sub)
		return err
	}
	list, err := is.cfg.Sessions.ListByUser(ctx, sub, now)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.CreatedAt.Before(nb) {
			if _, err := is.cfg.Sessions.Delete(ctx, s.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
