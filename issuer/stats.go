package issuer

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// auditEvents are the events the issuer counts (Stats) and writes audit lines for.
var auditEvents = []string{
	"login", "login_failed", "login_rate_limited",
	"refresh", "refresh_failed", "refresh_reuse",
	"logout", "logout_all", "session_deleted", "session_revoked", "session_revoke_failed",
	"subject_revoked", "subject_revoke_failed",
	"session_ended_user_removed", "admin_revocation", "admin_revocation_denied",
}

// counters count audit events by name; the map is built once and only read after, so concurrent
// use needs no lock.
type counters map[string]*atomic.Uint64

func newCounters() counters {
	c := make(counters, len(auditEvents))
	for _, e := range auditEvents {
		c[e] = new(atomic.Uint64)
	}
	return c
}

func (c counters) add(event string) {
	if n := c[event]; n != nil {
		n.Add(1)
	}
}

// audit counts event and writes its audit line ("audit", event=...) with args at level. Audit lines
// never hold a password, a token or a refresh token.
func (is *Issuer) audit(ctx context.Context, level slog.Level, event string, args ...any) {
	is.counters.add(event)
	is.log.Log(ctx, level, "audit", append([]any{"event", event}, args...)...)
}

// Stats are the issuer's counters since New.
type Stats struct {
	// Events counts by name: login, login_failed, login_rate_limited, refresh, refresh_failed,
	// refresh_reuse (a stolen refresh token detected: the session is revoked), logout, logout_all,
	// session_deleted, session_revoked, session_revoke_failed, subject_revoked,
	// subject_revoke_failed, session_ended_user_removed,
	// admin_revocation, admin_revocation_denied.
	Events map[string]uint64
}

// Stats returns the issuer's counters. Safe for concurrent use.
func (is *Issuer) Stats() Stats {
	st := Stats{Events: make(map[string]uint64, len(is.counters))}
	for e, n := range is.counters {
		st.Events[e] = n.Load()
	}
	return st
}
