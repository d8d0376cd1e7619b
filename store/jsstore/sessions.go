package jsstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SessionHistory is how many rotated-out refresh token hashes a session remembers.
const SessionHistory = 16

// Session is one login session as stored (the same fields as the issuer's and redisstore's).
type Session struct {
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

// stored is a session as kept in the bucket: the session and its rotated-out hashes, newest first.
type stored struct {
	Session
	Old []string `json:"old,omitempty"`
}

func (s *Session) ended(now time.Time) bool {
	return !now.Before(s.ExpiresAt) || !now.Before(s.LastUsed.Add(s.Idle))
}

// Sessions keeps login sessions in a JetStream key-value bucket: key "s.<sid>" holds the session,
// key "u.<sub>.<sid>" indexes it by user (ids are base64url-encoded into key-safe tokens). Every
// change of a session is a compare-and-set on its revision, retried on conflict, so concurrent
// rotations from any number of issuers are atomic. Ended sessions are filtered out on read and
// deleted when met; the bucket's TTL (WithSessionsTTL, default 31 days) bounds what is left. Safe for
// concurrent use; it never closes the connection.
type Sessions struct {
	kv jetstream.KeyValue
}

// SessionsOption configures Sessions.
type SessionsOption func(*jetstream.KeyValueConfig)

// WithSessionsBucket sets the bucket name. Defaults to "REVOCAST_SESSIONS".
func WithSessionsBucket(name string) SessionsOption {
	return func(c *jetstream.KeyValueConfig) { c.Bucket = name }
}

// WithSessionsReplicas sets the bucket's replicas. Defaults to 1.
func WithSessionsReplicas(n int) SessionsOption {
	return func(c *jetstream.KeyValueConfig) { c.Replicas = n }
}

// WithSessionsTTL sets how long the bucket keeps an entry after its last write; set it above the
// absolute session lifetime. Defaults to 31 days.
func WithSessionsTTL(d time.Duration) SessionsOption {
	return func(c *jetstream.KeyValueConfig) { c.TTL = d }
}

// NewSessions creates or updates the bucket and returns the session store.
func NewSessions(ctx context.Context, nc *nats.Conn, opts ...SessionsOption) (*Sessions, error) {
	cfg := jetstream.KeyValueConfig{Bucket: "REVOCAST_SESSIONS", Storage: jetstream.FileStorage, Replicas: 1,
		TTL: 31 * 24 * time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jsstore: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("jsstore: sessions bucket: %w", err)
	}
	return &Sessions{kv: kv}, nil
}

func token(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func sessKey(sid string) string       { return "s." + token(sid) }
func indexKey(sub, sid string) string { return "u." + token(sub) + "." + token(sid) }

// Ping checks that the bucket answers.
func (s *Sessions) Ping(ctx context.Context) error {
	if _, err := s.kv.Status(ctx); err != nil {
		return fmt.Errorf("jsstore: ping: %w", err)
	}
	return nil
}

// Create stores a new session (LastUsed = CreatedAt, no predecessor). It returns ErrSessionExists if
// the id is taken.
func (s *Sessions) Create(ctx context.Context, sess Session) error {
	if sess.ID == "" || sess.Subject == "" || sess.RefreshHash == "" || sess.CreatedAt.IsZero() ||
		sess.ExpiresAt.IsZero() || sess.Idle <= 0 {
		return fmt.Errorf("jsstore: create session: id, subject, refresh hash, times and idle are required")
	}
	sess.LastUsed, sess.PreviousHash, sess.RotatedAt = sess.CreatedAt, "", time.Time{}
	b, _ := json.Marshal(stored{Session: sess})
	if _, err := s.kv.Put(ctx, indexKey(sess.Subject, sess.ID), nil); err != nil {
		return fmt.Errorf("jsstore: create session: %w", err)
	}
	if _, err := s.kv.Create(ctx, sessKey(sess.ID), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrSessionExists
		}
		return fmt.Errorf("jsstore: create session: %w", err)
	}
	return nil
}

func (s *Sessions) load(ctx context.Context, sid string) (stored, uint64, error) {
	e, err := s.kv.Get(ctx, sessKey(sid))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return stored{}, 0, ErrSessionNotFound
	}
	if err != nil {
		return stored{}, 0, fmt.Errorf("jsstore: get session: %w", err)
	}
	var st stored
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return stored{}, 0, fmt.Errorf("%w: session %v", ErrReply, err)
	}
	return st, e.Revision(), nil
}

// Get returns the session, or ErrSessionNotFound.
func (s *Sessions) Get(ctx context.Context, sid string) (Session, error) {
	st, _, err := s.load(ctx, sid)
	return st.Session, err
}

// Rotate replaces the session's refresh token hash atomically, with the rules of
// redisstore.Sessions.Rotate: the current hash rotates; the predecessor within grace of its
// rotation rotates again without extending the window; the predecessor after it, or an older
// rotated-out hash, is reuse (the session is deleted, ErrSessionReuse); anything else, or an ended
// session, is ErrSessionNotFound.
func (s *Sessions) Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (Session, error) {
	if presented == "" || next == "" {
		return Session{}, fmt.Errorf("%w: empty hash", ErrSessionNotFound)
	}
	for {
		st, rev, err := s.load(ctx, sid)
		if err != nil {
			return Session{}, err
		}
		if st.ended(now) {
			s.remove(ctx, st.Session, rev)
			return Session{}, ErrSessionNotFound
		}
		switch {
		case presented == st.RefreshHash:
			st.Old = append([]string{presented}, st.Old...)
			if len(st.Old) > SessionHistory {
				st.Old = st.Old[:SessionHistory]
			}
			st.PreviousHash, st.RefreshHash, st.RotatedAt = presented, next, now
		case st.PreviousHash != "" && presented == st.PreviousHash && now.Sub(st.RotatedAt) <= grace:
			st.RefreshHash = next
		case slices.Contains(st.Old, presented):
			s.remove(ctx, st.Session, rev)
			return Session{}, ErrSessionReuse
		default:
			return Session{}, ErrSessionNotFound
		}
		if now.After(st.LastUsed) {
			st.LastUsed = now
		}
		b, _ := json.Marshal(st)
		if _, err := s.kv.Update(ctx, sessKey(sid), b, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) { // another writer won the race: read again
				continue
			}
			return Session{}, fmt.Errorf("jsstore: rotate session: %w", err)
		}
		return st.Session, nil
	}
}

// remove deletes a session and its index entry (best effort for the index).
func (s *Sessions) remove(ctx context.Context, sess Session, rev uint64) bool {
	var opts []jetstream.KVDeleteOpt
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := s.kv.Delete(ctx, sessKey(sess.ID), opts...)
	_ = s.kv.Delete(ctx, indexKey(sess.Subject, sess.ID))
	return err == nil
}

// Delete removes the session and reports whether it existed.
func (s *Sessions) Delete(ctx context.Context, sid string) (bool, error) {
	st, _, err := s.load(ctx, sid)
	if errors.Is(err, ErrSessionNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.remove(ctx, st.Session, 0), nil
}

func (s *Sessions) userSessions(ctx context.Context, sub string) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, "u."+token(sub)+".*")
	if err != nil {
		return nil, fmt.Errorf("jsstore: list sessions: %w", err)
	}
	var sids []string
	prefix := len("u." + token(sub) + ".")
	for k := range lister.Keys() {
		raw, err := base64.RawURLEncoding.DecodeString(k[prefix:])
		if err == nil {
			sids = append(sids, string(raw))
		}
	}
	return sids, nil
}

// ListByUser returns the sessions of sub that have not ended at now, oldest first.
func (s *Sessions) ListByUser(ctx context.Context, sub string, now time.Time) ([]Session, error) {
	sids, err := s.userSessions(ctx, sub)
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, sid := range sids {
		st, rev, err := s.load(ctx, sid)
		if errors.Is(err, ErrSessionNotFound) {
			_ = s.kv.Delete(ctx, indexKey(sub, sid))
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.ended(now) {
			s.remove(ctx, st.Session, rev)
			continue
		}
		out = append(out, st.Session)
	}
	slices.SortFunc(out, func(a, b Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeleteAllByUser deletes every session of sub and returns how many it deleted.
func (s *Sessions) DeleteAllByUser(ctx context.Context, sub string) (int, error) {
	sids, err := s.userSessions(ctx, sub)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sid := range sids {
		if ok, err := s.Delete(ctx, sid); err != nil {
			return n, err
		} else if ok {
			n++
		}
		_ = s.kv.Delete(ctx, indexKey(sub, sid))
	}
	return n, nil
}
