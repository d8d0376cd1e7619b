package issuer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/revocast/revocast/issuer"
)

// TestLogsHoldNoSecrets runs every audited flow and greps the log for every token, refresh token
// and password that went through it.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	var secrets []string
	login := func(user, pw string) *resp {
		r := e.do("POST", "/v1/login", map[string]string{"username": user, "password": pw})
		secrets = append(secrets, pw)
		if r.status == 200 {
			secrets = append(secrets, r.str("access_token"), r.str("refresh_token"))
		}
		return r
	}
	login("alice", "wrong-password-123")
	login("nobody", "another-wrong-pw")
	a := login("alice", "alice-pw")
	b := login("bob", "bob-pw")
	r := e.do("POST", "/v1/refresh", map[string]string{"refresh_token": a.str("refresh_token")})
	secrets = append(secrets, r.str("access_token"), r.str("refresh_token"))
	e.clock.Advance(issuer.DefaultRefreshGrace + time.Second)
	e.do("POST", "/v1/refresh", map[string]string{"refresh_token": a.str("refresh_token")}) // reuse: theft
	e.do("POST", "/v1/revocations", map[string]string{"kind": "subject", "id": "bob"}, "Authorization", "Bearer "+login("alice", "alice-pw").str("access_token"))
	e.do("POST", "/v1/logout", nil, "Authorization", "Bearer "+b.str("access_token"))
	c := login("bob", "bob-pw")
	e.do("POST", "/v1/logout-all", nil, "Authorization", "Bearer "+c.str("access_token"))

	logs := e.logs.String()
	for _, want := range []string{"event=login ", "event=login_failed", "event=logout ", "event=logout_all", "event=refresh_reuse", "event=admin_revocation"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no audit line has %q", want)
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		// The whole secret, and its secret part: a JWT's signature, a refresh token's random part
		// (its first part, the session id, is not secret and is logged on purpose).
		parts := strings.Split(s, ".")
		for _, part := range []string{s, parts[len(parts)-1]} {
			if len(part) >= 8 && strings.Contains(logs, part) {
				t.Fatalf("a secret (%d bytes) is in the log", len(part))
			}
		}
	}
}
