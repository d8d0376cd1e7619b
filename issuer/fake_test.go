package issuer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/issuer"
)

// memStore is an in-memory issuer.SessionStore with the semantics of redisstore's Sessions, and
// failure injection. The tests run against it and against real Redis.
type memStore struct {
	mu   sync.Mutex
	sess map[string]*memSession
	fail error // when set, every call fails with it
}

type memSession struct {
	s   issuer.Session
	old []string
}

func newMemStore() *memStore { return &memStore{sess: make(map[string]*memSession)} }

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func ended(s issuer.Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || !now.Before(s.LastUsed.Add(s.Idle))
}

func (m *memStore) Create(ctx context.Context, s issuer.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.sess[s.ID]; ok {
		return errors.New("mem: exists")
	}
	s.LastUsed, s.PreviousHash, s.RotatedAt = s.CreatedAt, "", time.Time{}
	m.sess[s.ID] = &memSession{s: s}
	return nil
}

func (m *memStore) Get(ctx context.Context, sid string) (issuer.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return issuer.Session{}, m.fail
	}
	ms, ok := m.sess[sid]
	if !ok {
		return issuer.Session{}, issuer.ErrSessionNotFound
	}
	return ms.s, nil
}

func (m *memStore) Rotate(ctx context.Context, sid, presented, next string, now time.Time, grace time.Duration) (issuer.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return issuer.Session{}, m.fail
	}
	ms, ok := m.sess[sid]
	if !ok {
		return issuer.Session{}, issuer.ErrSessionNotFound
	}
	s := &ms.s
	if ended(*s, now) {
		delete(m.sess, sid)
		return issuer.Session{}, issuer.ErrSessionNotFound
	}
	switch {
	case presented == s.RefreshHash:
		ms.old = append([]string{presented}, ms.old...)
		if len(ms.old) > 16 {
			ms.old = ms.old[:16]
		}
		s.PreviousHash, s.RefreshHash, s.RotatedAt = presented, next, now
	case s.PreviousHash != "" && presented == s.PreviousHash && now.Sub(s.RotatedAt) <= grace:
		s.RefreshHash = next
	case strings.Contains(","+strings.Join(ms.old, ",")+",", ","+presented+","):
		delete(m.sess, sid)
		return issuer.Session{}, issuer.ErrRefreshReuse
	default:
		return issuer.Session{}, issuer.ErrSessionNotFound
	}
	if now.After(s.LastUsed) {
		s.LastUsed = now
	}
	return *s, nil
}

func (m *memStore) Delete(ctx context.Context, sid string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	_, ok := m.sess[sid]
	delete(m.sess, sid)
	return ok, nil
}

func (m *memStore) ListByUser(ctx context.Context, sub string, now time.Time) ([]issuer.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []issuer.Session
	for _, ms := range m.sess {
		if ms.s.Subject == sub && !ended(ms.s, now) {
			out = append(out, ms.s)
		}
	}
	return out, nil
}

func (m *memStore) DeleteAllByUser(ctx context.Context, sub string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	n := 0
	for id, ms := range m.sess {
		if ms.s.Subject == sub {
			delete(m.sess, id)
			n++
		}
	}
	return n, nil
}

func (m *memStore) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail
}

// memRevoker records revocations, with failure injection.
type memRevoker struct {
	mu   sync.Mutex
	revs []events.Revocation
	fail error
}

func (r *memRevoker) Revoke(ctx context.Context, rev events.Revocation) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	if rev.RevokedAt.IsZero() {
		rev.RevokedAt = time.Now()
	}
	if rev.DropAfter.IsZero() {
		rev.DropAfter = rev.RevokedAt.Add(time.Hour)
	}
	if err := rev.Validate(); err != nil {
		return 0, err
	}
	rev.Seq = uint64(len(r.revs) + 1)
	r.revs = append(r.revs, rev)
	return rev.Seq, nil
}

func (r *memRevoker) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

func (r *memRevoker) all() []events.Revocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Revocation(nil), r.revs...)
}
