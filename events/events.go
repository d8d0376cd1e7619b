package events

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the wire-format version this package encodes and the only one it decodes.
const Version = 1

// MaxSize is the largest encoded event or heartbeat accepted, in bytes.
const MaxSize = 4096

// Limits on the string fields of a Revocation, in bytes.
const (
	MaxIDLen     = 256
	MaxReasonLen = 256
	MaxOriginLen = 128
	MaxKidLen    = 64
)

// DefaultPrefix is the default NATS subject prefix.
const DefaultPrefix = "revocast.v1"

// RevocationSubject returns the subject revocations are published on under prefix ("revocast.v1.rev").
func RevocationSubject(prefix string) string { return prefix + ".rev" }

// HeartbeatSubject returns the subject heartbeats are published on under prefix ("revocast.v1.hb").
func HeartbeatSubject(prefix string) string { return prefix + ".hb" }

// StatusSubject returns the subject every subscriber answers status requests on under prefix
// ("revocast.v1.status"); see subscriber.StatusReply and `revocast status`.
func StatusSubject(prefix string) string { return prefix + ".status" }

// Kind says what a revocation matches.
type Kind uint8

// The kinds of revocation. The zero Kind is invalid.
const (
	// KindToken revokes the one token whose jti equals the ID.
	KindToken Kind = iota + 1
	// KindSession revokes every token whose sid equals the ID.
	KindSession
	// KindSubject revokes every token whose sub equals the ID and whose iat is before NotBefore.
	KindSubject
	// KindAll revokes every token whose iat is before NotBefore (key compromise). It has no ID.
	KindAll
)

var kindNames = [...]string{KindToken: "token", KindSession: "session", KindSubject: "subject", KindAll: "all"}

// String returns the kind's wire name ("token", "session", "subject", "all"), or "invalid".
func (k Kind) String() string {
	if k < KindToken || k > KindAll {
		return "invalid"
	}
	return kindNames[k]
}

// ParseKind returns the Kind named s, or ErrKind.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "token":
		return KindToken, nil
	case "session":
		return KindSession, nil
	case "subject":
		return KindSubject, nil
	case "all":
		return KindAll, nil
	}
	return 0, fmt.Errorf("%w: want token, session, subject or all", ErrKind)
}

// Revocation is one entry of the revocation log. Seq is assigned by the store when the entry is
// appended; it is zero before that.
type Revocation struct {
	Seq  uint64
	Kind Kind
	// ID is the jti (token), sid (session) or sub (subject); empty for KindAll.
	ID string
	// RevokedAt is when the revocation was made.
	RevokedAt time.Time
	// NotBefore, for KindSubject and KindAll only: tokens issued (iat) before it are revoked.
	NotBefore time.Time
	// DropAfter is when the entry can no longer match a live token and may be forgotten.
	DropAfter time.Time
	// Reason is a short free-form note ("logout", "refresh_reuse", ...).
	Reason string
	// Origin names the revoker that made the entry.
	Origin string
	// Kid names the key that signed the entry, and Sig is the Ed25519 signature of SigningBytes;
	// both empty when the revoker does not sign.
	Kid string
	Sig []byte
}

// Validate reports whether r is well formed: a known kind, an ID that is valid for it (see ValidID),
// a non-zero RevokedAt and DropAfter, NotBefore set exactly for KindSubject and KindAll, and
// string fields within their limits. It returns a wrapped sentinel error.
func (r *Revocation) Validate() error {
	switch r.Kind {
	case KindToken, KindSession, KindSubject:
		if err := ValidID(r.ID); err != nil {
			return err
		}
		if r.Kind == KindSubject && r.NotBefore.IsZero() {
			return fmt.Errorf("%w: not_before is required for kind subject", ErrField)
		}
		if r.Kind != KindSubject && !r.NotBefore.IsZero() {
			return fmt.Errorf("%w: not_before is only for kinds subject and all", ErrField)
		}
	case KindAll:
		if r.ID != "" {
			return fmt.Errorf("%w: kind all takes no id", ErrID)
		}
		if r.NotBefore.IsZero() {
			return fmt.Errorf("%w: not_before is required for kind all", ErrField)
		}
	default:
		return fmt.Errorf("%w: %d", ErrKind, r.Kind)
	}
	if r.RevokedAt.IsZero() {
		return fmt.Errorf("%w: revoked_at is required", ErrField)
	}
	if r.DropAfter.IsZero() {
		return fmt.Errorf("%w: drop_after is required", ErrField)
	}
	if r.DropAfter.Before(r.RevokedAt) {
		return fmt.Errorf("%w: drop_after is before revoked_at", ErrField)
	}
	if len(r.Reason) > MaxReasonLen || !utf8.ValidString(r.Reason) {
		return fmt.Errorf("%w: reason longer than %d bytes or not UTF-8", ErrField, MaxReasonLen)
	}
	if err := validName("origin", r.Origin, MaxOriginLen); err != nil {
		return err
	}
	return validSignature(r.Kid, r.Sig)
}

// SigSize is the size of a signature (Ed25519).
const SigSize = 64

// validSignature checks the optional kid and sig fields.
func validSignature(kid string, sig []byte) error {
	if err := validName("kid", kid, MaxKidLen); err != nil {
		return err
	}
	if sig != nil && len(sig) != SigSize {
		return fmt.Errorf("%w: sig must be %d bytes", ErrField, SigSize)
	}
	if (kid == "") != (sig == nil) {
		return fmt.Errorf("%w: kid and sig go together", ErrField)
	}
	return nil
}

// ValidID reports whether id can name a token, session or subject: 1 to MaxIDLen bytes of valid
// UTF-8 with no whitespace, control characters, '*' or '>'. It returns a wrapped ErrID.
func ValidID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrID, MaxIDLen)
	}
	if !plainString(id) {
		return fmt.Errorf("%w: contains whitespace, a control character, '*', '>' or invalid UTF-8", ErrID)
	}
	return nil
}

// validName checks an optional identifier-like field (origin).
func validName(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrField, field, max)
	}
	if s != "" && !plainString(s) {
		return fmt.Errorf("%w: %s contains whitespace, a control character, '*', '>' or invalid UTF-8", ErrField, field)
	}
	return nil
}

// plainString reports whether s is valid UTF-8 without whitespace, control characters, '*' or '>'.
func plainString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || isSpaceOrControl(r) {
			return false
		}
		i += n
	}
	return true
}

// isSpaceOrControl reports non-ASCII whitespace and C1 control characters.
func isSpaceOrControl(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f, r == 0x85, r == 0xa0, r == 0x1680, r >= 0x2000 && r <= 0x200a,
		r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000, r == 0xfeff:
		return true
	}
	return false
}

// Matches reports whether r revokes a token with the given jti, sid, sub and iat.
func (r *Revocation) Matches(jti, sid, sub string, iat time.Time) bool {
	switch r.Kind {
	case KindToken:
		return jti == r.ID
	case KindSession:
		return sid == r.ID
	case KindSubject:
		return sub == r.ID && iat.Before(r.NotBefore)
	case KindAll:
		return iat.Before(r.NotBefore)
	}
	return false
}

// Heartbeat announces a store's head sequence: every revocation up to Head has been appended.
// A subscriber that has applied less than Head knows it missed something.
type Heartbeat struct {
	Head   uint64
	Origin string
	Time   time.Time
	// Kid and Sig sign the heartbeat as for Revocation.
	Kid string
	Sig []byte
}

// Validate reports whether h is well formed: a non-zero Time and a valid Origin.
func (h *Heartbeat) Validate() error {
	if h.Time.IsZero() {
		return fmt.Errorf("%w: time is required", ErrField)
	}
	if err := validName("origin", h.Origin, MaxOriginLen); err != nil {
		return err
	}
	return validSignature(h.Kid, h.Sig)
}
