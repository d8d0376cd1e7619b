package issuer

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/revocast/revocast/events"
)

// HashParams are the parameters of a password hash.
type HashParams struct {
	// Algorithm is "argon2id" (the default) or "bcrypt".
	Algorithm string
	// Memory is argon2id's memory in KiB. Defaults to 19456 (19 MiB, OWASP's minimum).
	Memory uint32
	// Time is argon2id's number of passes. Defaults to 2.
	Time uint32
	// Threads is argon2id's parallelism. Defaults to 1.
	Threads uint8
	// Cost is bcrypt's cost. Defaults to 12.
	Cost int
}

// DefaultHashParams are the parameters HashPassword uses for the zero HashParams: argon2id with
// m=19456 KiB, t=2, p=1.
var DefaultHashParams = HashParams{Algorithm: "argon2id", Memory: 19456, Time: 2, Threads: 1}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
	// limits on the parameters of a stored argon2id hash, so a bad users file cannot make every login
	// allocate gigabytes.
	maxArgonMemory    = 1 << 20 // KiB: 1 GiB
	maxArgonTime      = 64
	defaultBcryptCost = 12
)

func (p HashParams) withDefaults() HashParams {
	if p.Algorithm == "" {
		p.Algorithm = "argon2id"
	}
	if p.Memory == 0 {
		p.Memory = DefaultHashParams.Memory
	}
	if p.Time == 0 {
		p.Time = DefaultHashParams.Time
	}
	if p.Threads == 0 {
		p.Threads = DefaultHashParams.Threads
	}
	if p.Cost == 0 {
		p.Cost = defaultBcryptCost
	}
	return p
}

// HashPassword returns a hash of password for the users file: a PHC string
// "$argon2id$v=19$m=...,t=...,p=...$salt$hash" (16-byte random salt, 32-byte key, unpadded standard
// base64) or a bcrypt hash ("$2a$..."), as p says (zero fields take their defaults). It returns
// ErrPassword for invalid parameters, an empty password, or a bcrypt password over 72 bytes.
func HashPassword(password string, p HashParams) (string, error) {
	if password == "" {
		return "", fmt.Errorf("%w: empty password", ErrPassword)
	}
	p = p.withDefaults()
	switch p.Algorithm {
	case "argon2id":
		if p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory || p.Time > maxArgonTime {
			return "", fmt.Errorf("%w: argon2id needs 8*p <= m <= %d KiB and t <= %d", ErrPassword, maxArgonMemory, maxArgonTime)
		}
		salt := make([]byte, argonSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", err
		}
		key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
		b64 := base64.RawStdEncoding.EncodeToString
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64(salt), b64(key)), nil
	case "bcrypt":
		h, err := bcrypt.GenerateFromPassword([]byte(password), p.Cost)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrPassword, err)
		}
		return string(h), nil
	}
	return "", fmt.Errorf("%w: algorithm %q: want argon2id or bcrypt", ErrPassword, p.Algorithm)
}

// passwordVerifier checks a password against one parsed hash, in time independent of where the
// password differs.
type passwordVerifier func(password string) bool

// parseHash parses a stored hash (argon2id PHC string or bcrypt) into a verifier.
func parseHash(h string) (passwordVerifier, error) {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return parseArgon2id(h)
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return nil, fmt.Errorf("%w: bcrypt: %w", ErrPassword, err)
		}
		hb := []byte(h)
		return func(pw string) bool { return bcrypt.CompareHashAndPassword(hb, []byte(pw)) == nil }, nil
	}
	return nil, fmt.Errorf("%w: want an argon2id PHC string or a bcrypt hash", ErrPassword)
}

func parseArgon2id(h string) (passwordVerifier, error) {
	parts := strings.Split(h, "$") // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	bad := func(why string) (passwordVerifier, error) {
		return nil, fmt.Errorf("%w: argon2id: %s", ErrPassword, why)
	}
	if len(parts) != 6 || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return bad("parameters")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return bad("parameters")
		}
	}
	if t < 1 || t > maxArgonTime || p < 1 || p > 255 || m < 8*p || m > maxArgonMemory {
		return bad("parameters out of range")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return bad("salt or hash")
	}
	return func(pw string) bool {
		got := argon2.IDKey([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1
	}, nil
}

// User is one entry of the users file.
type User struct {
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Roles        []string `json:"roles,omitempty"`
	Name         string   `json:"name,omitempty"`
	Email        string   `json:"email,omitempty"`

	verify passwordVerifier
}

// usersFile is the JSON of the users file.
type usersFile struct {
	Users []User `json:"users"`
}

// loadUsers reads and checks the users file: every username a valid revocation ID (it becomes the
// sub claim), unique, and every hash parseable.
func loadUsers(path string) (map[string]*User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: users: %w", ErrConfig, err)
	}
	var f usersFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: users %s: %w", ErrConfig, path, err)
	}
	users := make(map[string]*User, len(f.Users))
	for i := range f.Users {
		u := f.Users[i]
		if err := events.ValidID(u.Username); err != nil {
			return nil, fmt.Errorf("%w: users %s: user %d: %w", ErrConfig, path, i, err)
		}
		if _, dup := users[u.Username]; dup {
			return nil, fmt.Errorf("%w: users %s: user %q appears twice", ErrConfig, path, u.Username)
		}
		v, err := parseHash(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("%w: users %s: user %q: %w", ErrConfig, path, u.Username, err)
		}
		u.verify = v
		u.PasswordHash = ""
		users[u.Username] = &u
	}
	return users, nil
}

// dummyVerifier returns a verifier of a random password hashed with p: comparing against it costs
// what comparing against a real hash with the same parameters costs.
func dummyVerifier(p HashParams) (passwordVerifier, error) {
	h, err := HashPassword(randomString(16), p)
	if err != nil {
		return nil, fmt.Errorf("%w: PasswordHash: %w", ErrConfig, err)
	}
	v, err := parseHash(h)
	if err != nil {
		return nil, errors.Join(ErrConfig, err)
	}
	return v, nil
}
