package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors returned by Sessions, wrapped with detail (use errors.Is).
var (
	// ErrSessionNotFound means the session does not exist (never created, deleted, revoked, past its
	// absolute lifetime or idle timeout), or, from Rotate, that the presented refresh token hash is
	// not one this session knows: nothing was changed.
	ErrSessionNotFound = errors.New("redisstore: session not found")
	// ErrSessionReuse is returned by Rotate when the presented refresh token hash is one the
	// session rotated out (the predecessor after the grace window, or an older one): the session
	// has been deleted, and the caller must revoke it (theft detection).
	ErrSessionReuse = errors.New("redisstore: rotated-out refresh token reused; session deleted")
	// ErrSessionExists is returned by Create when a session with that ID already exists.
	ErrSessionExists = errors.New("redisstore: session already exists")
)

// DefaultSessionsPrefix is the default key prefix of Sessions: a session is the hash
// "{revocast}:sess:<id>" and a user's index the sorted set "{revocast}:user:<sub>:sessions".
const DefaultSessionsPrefix = "revocast"

// SessionHistory is how many rotated-out refresh token hashes a session remembers (the predecessor
// included). Presenting one of them outside the grace rules is reuse (ErrSessionReuse); presenting
// an older or unknown one is ErrSessionNotFound and changes nothing.
const SessionHistory = 16

// Session is one login session as stored. Times are kept at microsecond precision.
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
	// UserAgent and IP describe the client that logged in, for listing.
	UserAgent string
	IP        string
	// RefreshHash is the hash of the current refresh token.
	RefreshHash string
	// PreviousHash is the hash of the immediate predecessor of the current refresh token ("" until
	// the first rotation).
	PreviousHash string
	// RotatedAt is when PreviousHash was rotated out (zero until the first rotation).
	RotatedAt time.Time
}

// Sessions keeps login sessions in Redis: one hash per session, with a Redis TTL of
// min(absolute lifetime left, idle timeout), and a sorted set per user indexing the user's session
// ids by absolute expiry. Every change is one Lua script, so it is atomic. Create it with
// NewSessions; it is safe for concurrent use by any number of goroutines and processes sharing the
// keys. It never closes the client.
//
// Every key carries the hash tag "{prefix}", so all keys live in one Redis Cluster slot; the scripts
// of ListByUser and DeleteAllByUser derive session keys from the index (same slot), which Redis
// Cluster executes correctly but does not declare in KEYS.
type Sessions struct {
	client  redis.UniversalClient
	sessKey string // "{prefix}:sess:"
	userKey string // "{prefix}:user:"
}

// SessionsOption configures Sessions.
type SessionsOption func(*Sessions)

// WithSessionsPrefix sets the key prefix (DefaultSessionsPrefix, "revocast", by default; an empty
// prefix keeps it).
func WithSessionsPrefix(prefix string) SessionsOption {
	return func(s *Sessions) {
		if prefix != "" {
			s.sessionSetPrefix(prefix)
		}
	}
}

// NewSessions returns a session store in Redis through client. It does no I/O; the caller keeps
// ownership of client.
func NewSessions(client redis.UniversalClient, opts ...SessionsOption) *Sessions {
	s := &Sessions{client: client}
	s.sessionSetPrefix(DefaultSessionsPrefix)
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Sessions) sessionSetPrefix(p string) {
	tag := "{" + p + "}"
	s.sessKey, s.userKey = tag+":sess:", tag+":user:"
}

func (s *Sessions) sessionIndexKey(sub string) string { return s.userKey + sub + ":sessions" }

// Ping checks that Redis answers.
func (s *Sessions) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Create stores a new session. ID, Subject, CreatedAt, ExpiresAt, Idle and RefreshHash are required;
// LastUsed is set to CreatedAt and the rotation fields are cleared. It returns ErrSessionExists if
// the id is taken. A session already past its end at CreatedAt is not stored (nil error).
func (s *Sessions) Create(ctx context.Context, sess Session) error {
	if sess.ID == "" || sess.Subject == "" || sess.RefreshHash == "" || sess.CreatedAt.IsZero() ||
		sess.ExpiresAt.IsZero() || sess.Idle <= 0 {
		return fmt.Errorf("redisstore: create session: id, subject, refresh hash, times and idle are required")
	}
	now := sessionMicros(sess.CreatedAt)
	err := sessionCreateScript.Run(ctx, s.client,
		[]string{s.sessKey + sess.ID, s.sessionIndexKey(sess.Subject)},
		sess.ID, sess.Subject, now, sessionMicros(sess.ExpiresAt), sess.Idle.Microseconds(),
		sess.UserAgent, sess.IP, sess.RefreshHash).Err()
	if err != nil {
		if strings.Contains(err.Error(), "REVOCAST_SESSION_EXISTS") {
			return ErrSessionExists
		}
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	return nil
}

// Get returns the session with id sid, or ErrSessionNotFound. It does not check the session's end
// against a clock: Redis expires it (its TTL), and callers with their own clock check ExpiresAt and
// LastUsed+Idle.
func (s *Sessions) Get(ctx context.Context, sid string) (Session, error) {
	m, err := s.client.HGetAll(ctx, s.sessKey+sid).Result()
	if err != nil {
		return Session{}, fmt.Errorf("redisstore: get session: %w", err)
	}
	if len(m) == 0 {
		return Session{}, ErrSessionNotFound
	}
	return sessionFromMap(sid, m)
}

// Touch records a use of the session at now: LastUsed becomes now (it never goes back) and the TTL
// is renewed. It returns ErrSessionNotFound if the session does not exist or has ended at now (it
// is then deleted).
func (s *Sessions) Touch(ctx context.Context, sid string, now time.Time) error {
	n, err := sessionTouchScript.Run(ctx, s.client, []string{s.sessKey + sid}, sessionMicros(now)).Int()
	if err != nil {
		return fmt.Errorf("redisstore: touch session: %w", err)
	}
	if n == 0 {
		return ErrSessionNotFound
	}
	return nil
}

// Rotate replaces the session's refresh token, atomically, and returns the session after the change.
// presented is the hash of the refresh token the client presented, next the hash of the one that
// replaces it:
//
//   - presented is the current hash: next becomes current, presented becomes the predecessor
//     (PreviousHash) with RotatedAt = now.
//   - presented is the predecessor and now - RotatedAt <= grace (two tabs refreshing at once): next
//     becomes current; the predecessor and RotatedAt stay as they are, so the grace window is
//     counted from the first rotation and never extended. The current hash it replaces (handed to a
//     concurrent refresh) is forgotten, not remembered as rotated out: presenting it later is
//     ErrSessionNotFound (401 for the client), not reuse. So of N concurrent refreshes with one
//     token, all succeed, the last one to commit holds the surviving chain, and no session is killed.
//   - presented is the predecessor after the grace window, or one of the older rotated-out hashes
//     (SessionHistory in all): reuse, which indicates theft. The session is deleted and Rotate
//     returns ErrSessionReuse; the caller revokes the session.
//   - anything else (unknown hash), or no session, or a session ended at now: ErrSessionNotFound.
//
// LastUsed becomes now and the TTL is renewed on success.
func (s *Sessions) Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (Session, error) {
	if presented == "" || next == "" || strings.Contains(presented, ",") || strings.Contains(next, ",") {
		return Session{}, fmt.Errorf("%w: empty or invalid hash", ErrSessionNotFound)
	}
	res, err := sessionRotateScript.Run(ctx, s.client, []string{s.sessKey + sid},
		presented, next, sessionMicros(now), grace.Microseconds(), SessionHistory).Slice()
	if err != nil {
		return Session{}, fmt.Errorf("redisstore: rotate session: %w", err)
	}
	if len(res) == 0 {
		return Session{}, fmt.Errorf("%w: rotate returned nothing", ErrReply)
	}
	code, _ := res[0].(int64)
	switch code {
	case 0:
		return Session{}, ErrSessionNotFound
	case 2:
		if len(res) == 2 {
			if sub, ok := res[1].(string); ok {
				// Best effort: ListByUser prunes the index anyway.
				s.client.ZRem(ctx, s.sessionIndexKey(sub), sid)
			}
		}
		return Session{}, ErrSessionReuse
	case 1:
		if len(res) != 2 {
			break
		}
		flat, ok := res[1].([]any)
		if !ok {
			break
		}
		return sessionFromFlat(sid, flat)
	}
	return Session{}, fmt.Errorf("%w: rotate returned %v", ErrReply, res[0])
}

// Delete removes the session and its index entry. It reports whether the session existed.
func (s *Sessions) Delete(ctx context.Context, sid string) (bool, error) {
	n, err := sessionDeleteScript.Run(ctx, s.client, []string{s.sessKey + sid}, s.userKey, sid).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: delete session: %w", err)
	}
	return n == 1, nil
}

// ListByUser returns the sessions of sub that have not ended at now, oldest first, and removes
// index entries of sessions that no longer exist.
func (s *Sessions) ListByUser(ctx context.Context, sub string, now time.Time) ([]Session, error) {
	res, err := sessionListScript.Run(ctx, s.client, []string{s.sessionIndexKey(sub)}, s.sessKey, sessionMicros(now)).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list sessions: %w", err)
	}
	out := make([]Session, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		sid, _ := res[i].(string)
		flat, ok := res[i+1].([]any)
		if !ok {
			return nil, fmt.Errorf("%w: list returned %T", ErrReply, res[i+1])
		}
		sess, err := sessionFromFlat(sid, flat)
		if err != nil {
			return nil, err
		}
		if sessionEnded(sess, now) {
			continue
		}
		out = append(out, sess)
	}
	return out, nil
}

// DeleteAllByUser deletes every session of sub and its index, atomically, and returns how many
// sessions it deleted.
func (s *Sessions) DeleteAllByUser(ctx context.Context, sub string) (int, error) {
	n, err := sessionDeleteAllScript.Run(ctx, s.client, []string{s.sessionIndexKey(sub)}, s.sessKey).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: delete sessions: %w", err)
	}
	return n, nil
}

func sessionEnded(s Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || !now.Before(s.LastUsed.Add(s.Idle))
}

// sessionMicros is t in unix microseconds (truncated).
func sessionMicros(t time.Time) int64 { return t.UnixMicro() }

func sessionFromFlat(sid string, flat []any) (Session, error) {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return sessionFromMap(sid, m)
}

func sessionFromMap(sid string, m map[string]string) (Session, error) {
	var (
		s   = Session{ID: sid, Subject: m["sub"], UserAgent: m["ua"], IP: m["ip"], RefreshHash: m["cur"], PreviousHash: m["prev"]}
		err error
	)
	num := func(k string) int64 {
		v, e := strconv.ParseInt(m[k], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("%w: session field %s", ErrReply, k)
		}
		return v
	}
	s.CreatedAt = time.UnixMicro(num("created")).UTC()
	s.LastUsed = time.UnixMicro(num("used")).UTC()
	s.ExpiresAt = time.UnixMicro(num("exp")).UTC()
	s.Idle = time.Duration(num("idle")) * time.Microsecond
	if rot := num("rot"); rot != 0 {
		s.RotatedAt = time.UnixMicro(rot).UTC()
	}
	if err == nil && (s.Subject == "" || s.RefreshHash == "") {
		err = fmt.Errorf("%w: session without subject or refresh hash", ErrReply)
	}
	if err != nil {
		return Session{}, err
	}
	return s, nil
}
