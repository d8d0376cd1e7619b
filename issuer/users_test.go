package issuer_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revocast/revocast/issuer"
)

func TestHashPassword(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params issuer.HashParams
		prefix string
		err    bool
	}{
		{"argon2id", testHash, "$argon2id$v=19$m=64,t=1,p=1$", false},
		{"argon2id defaults", issuer.HashParams{}, "$argon2id$v=19$m=19456,t=2,p=1$", false},
		{"bcrypt", issuer.HashParams{Algorithm: "bcrypt", Cost: 4}, "$2a$04$", false},
		{"unknown algorithm", issuer.HashParams{Algorithm: "md5"}, "", true},
		{"argon2id memory too small", issuer.HashParams{Memory: 4, Threads: 1}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := issuer.HashPassword("s3cret", tc.params)
			if tc.err {
				if !errors.Is(err, issuer.ErrPassword) {
					t.Fatalf("err %v, want ErrPassword", err)
				}
				return
			}
			if err != nil || !strings.HasPrefix(h, tc.prefix) {
				t.Fatalf("%q %v, want prefix %q", h, err, tc.prefix)
			}
			if strings.Contains(h, "s3cret") {
				t.Fatal("the password is in the hash")
			}
		})
	}
	if _, err := issuer.HashPassword("", testHash); !errors.Is(err, issuer.ErrPassword) {
		t.Errorf("empty password: %v", err)
	}
	if _, err := issuer.HashPassword(strings.Repeat("x", 73), issuer.HashParams{Algorithm: "bcrypt", Cost: 4}); !errors.Is(err, issuer.ErrPassword) {
		t.Errorf("bcrypt over 72 bytes: %v", err)
	}
}

// TestUsersFile: malformed users files are refused with ErrConfig; ReloadUsers swaps the users and
// keeps the old ones when the new file is bad.
func TestUsersFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":       `{`,
		"bad hash":       `{"users":[{"username":"a","password_hash":"plain"}]}`,
		"bad argon2":     `{"users":[{"username":"a","password_hash":"$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]}`,
		"huge argon2":    `{"users":[{"username":"a","password_hash":"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}]}`,
		"bad bcrypt":     `{"users":[{"username":"a","password_hash":"$2a$99$xx"}]}`,
		"duplicate":      `{"users":[{"username":"a","password_hash":"HASH"},{"username":"a","password_hash":"HASH"}]}`,
		"empty username": `{"users":[{"username":"","password_hash":"HASH"}]}`,
		"space username": `{"users":[{"username":"a b","password_hash":"HASH"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.json")
			good, _ := issuer.HashPassword("pw", issuer.HashParams{Algorithm: "bcrypt", Cost: 4})
			os.WriteFile(path, []byte(strings.ReplaceAll(content, "HASH", good)), 0o600)
			_, err := issuer.New(issuer.Config{KeysDir: t.TempDir(), Users: path, PasswordHash: testHash,
				Sessions: newMemStore(), Revoker: &memRevoker{}})
			if !errors.Is(err, issuer.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
	t.Run("reload", func(t *testing.T) {
		e := newEnv(t)
		h, _ := issuer.HashPassword("dave-pw", testHash)
		os.WriteFile(e.cfg.Users, []byte(`{"users":[{"username":"dave","password_hash":"`+h+`"}]}`), 0o600)
		if err := e.is.ReloadUsers(); err != nil {
			t.Fatal(err)
		}
		e.login("dave")
		if r := e.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "bob-pw"}); r.status != 401 {
			t.Errorf("removed user logs in: %d", r.status)
		}
		os.WriteFile(e.cfg.Users, []byte(`{`), 0o600)
		if err := e.is.ReloadUsers(); !errors.Is(err, issuer.ErrConfig) {
			t.Errorf("bad file: %v", err)
		}
		e.login("dave") // the previous users stay
	})
	t.Run("removed user's session ends at refresh", func(t *testing.T) {
		e := newEnv(t)
		l := e.login("bob")
		h, _ := issuer.HashPassword("dave-pw", testHash)
		os.WriteFile(e.cfg.Users, []byte(`{"users":[{"username":"dave","password_hash":"`+h+`"}]}`), 0o600)
		if err := e.is.ReloadUsers(); err != nil {
			t.Fatal(err)
		}
		if r := e.refresh(l.str("refresh_token")); r.status != 401 {
			t.Errorf("refresh of a removed user: %d", r.status)
		}
		if revs := e.revocations(t); len(revs) != 1 || revs[0].Reason != "user_removed" {
			t.Errorf("revocations %+v", revs)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	users := writeUsers(t, t.TempDir())
	base := func() issuer.Config {
		return issuer.Config{KeysDir: t.TempDir(), Users: users, PasswordHash: testHash, Sessions: newMemStore(), Revoker: &memRevoker{}}
	}
	for name, mod := range map[string]func(*issuer.Config){
		"no keys dir":   func(c *issuer.Config) { c.KeysDir = "" },
		"no users":      func(c *issuer.Config) { c.Users = "" },
		"no sessions":   func(c *issuer.Config) { c.Sessions = nil },
		"no revoker":    func(c *issuer.Config) { c.Revoker = nil },
		"bad algorithm": func(c *issuer.Config) { c.Algorithm = "HS256" },
		"short ttl":     func(c *issuer.Config) { c.AccessTTL = time.Millisecond },
		"bad rate":      func(c *issuer.Config) { c.LoginRate.PerIP = issuer.Rate{Burst: 1} },
		"bad origin":    func(c *issuer.Config) { c.TrustedOrigins = []string{"::"} },
		"missing users": func(c *issuer.Config) { c.Users = filepath.Join(t.TempDir(), "nope.json") },
	} {
		t.Run(name, func(t *testing.T) {
			c := base()
			mod(&c)
			if _, err := issuer.New(c); !errors.Is(err, issuer.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
}
