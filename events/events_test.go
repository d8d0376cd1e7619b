package events

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 17, 0, 0, 123456789, time.UTC)

func validRevocation() Revocation {
	return Revocation{
		Seq:       42,
		Kind:      KindSession,
		ID:        "s_9f2c1a",
		RevokedAt: t0,
		DropAfter: t0.Add(5*time.Minute + 30*time.Second),
		Reason:    "logout",
		Origin:    "issuer-1",
	}
}

func TestRevocationRoundTrip(t *testing.T) {
	subject := validRevocation()
	subject.Kind, subject.ID, subject.NotBefore = KindSubject, "alice", t0
	all := validRevocation()
	all.Kind, all.ID, all.NotBefore, all.Reason = KindAll, "", t0, `key "k1" compromised\n`
	unicode := validRevocation()
	unicode.Kind, unicode.ID, unicode.Reason = KindToken, "jti-é-漢字-\"q\"-\\", "naïve ☃"
	noSeq := validRevocation()
	noSeq.Seq, noSeq.Origin, noSeq.Reason = 0, "", ""
	for name, r := range map[string]Revocation{"session": validRevocation(), "subject": subject, "all": all, "unicode": unicode, "no-seq": noSeq} {
		t.Run(name, func(t *testing.T) {
			b := r.AppendJSON(nil)
			got, err := DecodeRevocation(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if !equalRevocation(got, r) {
				t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got, r)
			}
			// encoding/json must agree on what the bytes say.
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("encoding/json rejects our encoding %s: %v", b, err)
			}
			if r.ID != "" && m["id"] != r.ID {
				t.Fatalf("encoding/json reads id %q, want %q", m["id"], r.ID)
			}
		})
	}
}

func equalRevocation(a, b Revocation) bool {
	return a.Seq == b.Seq && a.Kind == b.Kind && a.ID == b.ID && a.RevokedAt.Equal(b.RevokedAt) &&
		a.NotBefore.Equal(b.NotBefore) && a.DropAfter.Equal(b.DropAfter) && a.Reason == b.Reason && a.Origin == b.Origin &&
		a.Kid == b.Kid && bytes.Equal(a.Sig, b.Sig)
}

func TestEncodingIsDeterministic(t *testing.T) {
	r := validRevocation()
	want := `{"v":1,"seq":42,"kind":"session","id":"s_9f2c1a","revoked_at":"2026-11-28T17:00:00.123456789Z",` +
		`"drop_after":"2026-11-28T17:05:30.123456789Z","reason":"logout","origin":"issuer-1"}`
	if got := string(r.AppendJSON(nil)); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	local := r
	local.RevokedAt = r.RevokedAt.In(time.FixedZone("X", 3600))
	if string(local.AppendJSON(nil)) != want {
		t.Fatal("encoding depends on the time zone")
	}
}

func TestDecodeRevocationRejects(t *testing.T) {
	const (
		ra = `"revoked_at":"2026-11-28T17:00:00.000000000Z"`
		da = `"drop_after":"2026-11-28T17:10:00.000000000Z"`
		nb = `"not_before":"2026-11-28T17:00:00.000000000Z"`
	)
	obj := func(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }
	cases := []struct {
		name, in string
		want     error
	}{
		{"empty", ``, ErrMalformed},
		{"not an object", `[1,2]`, ErrMalformed},
		{"null", `null`, ErrMalformed},
		{"truncated", `{"v":1,"kind":"token","id":"a"`, ErrMalformed},
		{"trailing data", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, ra, da) + `{}`, ErrMalformed},
		{"duplicate key", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, `"id":"b"`, ra, da), ErrMalformed},
		{"control char in string", obj(`"v":1`, `"kind":"token"`, "\"id\":\"a\x01\"", ra, da), ErrMalformed},
		{"bad escape", obj(`"v":1`, `"kind":"token"`, `"id":"a\x"`, ra, da), ErrMalformed},
		{"negative seq", obj(`"v":1`, `"seq":-1`, `"kind":"token"`, `"id":"a"`, ra, da), ErrMalformed},
		{"fractional seq", obj(`"v":1`, `"seq":1.5`, `"kind":"token"`, `"id":"a"`, ra, da), ErrMalformed},
		{"seq overflow", obj(`"v":1`, `"seq":18446744073709551616`, `"kind":"token"`, `"id":"a"`, ra, da), ErrMalformed},
		{"string seq", obj(`"v":1`, `"seq":"1"`, `"kind":"token"`, `"id":"a"`, ra, da), ErrMalformed},
		{"too deep", obj(`"v":1`, `"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)), ErrMalformed},
		{"oversized", obj(`"v":1`, `"reason":"`+strings.Repeat("a", MaxSize)+`"`), ErrTooLarge},
		{"no version", obj(`"kind":"token"`, `"id":"a"`, ra, da), ErrVersion},
		{"version 2", obj(`"v":2`, `"kind":"token"`, `"id":"a"`, ra, da), ErrVersion},
		{"unknown kind", obj(`"v":1`, `"kind":"user"`, `"id":"a"`, ra, da), ErrKind},
		{"no kind", obj(`"v":1`, `"id":"a"`, ra, da), ErrKind},
		{"empty id", obj(`"v":1`, `"kind":"token"`, `"id":""`, ra, da), ErrID},
		{"missing id", obj(`"v":1`, `"kind":"session"`, ra, da), ErrID},
		{"id with space", obj(`"v":1`, `"kind":"token"`, `"id":"a b"`, ra, da), ErrID},
		{"id with tab escape", obj(`"v":1`, `"kind":"token"`, `"id":"a\tb"`, ra, da), ErrID},
		{"id with star", obj(`"v":1`, `"kind":"token"`, `"id":"*"`, ra, da), ErrID},
		{"id with gt", obj(`"v":1`, `"kind":"session"`, `"id":"a.>"`, ra, da), ErrID},
		{"id with NUL escape", obj(`"v":1`, `"kind":"token"`, `"id":"a\u0000"`, ra, da), ErrID},
		{"id with DEL", obj(`"v":1`, `"kind":"token"`, "\"id\":\"a\x7f\"", ra, da), ErrID},
		{"id with NBSP", obj(`"v":1`, `"kind":"token"`, "\"id\":\"a\u00a0b\"", ra, da), ErrID},
		{"id with invalid UTF-8", obj(`"v":1`, `"kind":"token"`, "\"id\":\"a\xff\"", ra, da), ErrID},
		{"id too long", obj(`"v":1`, `"kind":"token"`, `"id":"`+strings.Repeat("a", MaxIDLen+1)+`"`, ra, da), ErrID},
		{"all with id", obj(`"v":1`, `"kind":"all"`, `"id":"a"`, nb, ra, da), ErrID},
		{"all without not_before", obj(`"v":1`, `"kind":"all"`, ra, da), ErrField},
		{"subject without not_before", obj(`"v":1`, `"kind":"subject"`, `"id":"alice"`, ra, da), ErrField},
		{"token with not_before", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, nb, ra, da), ErrField},
		{"no revoked_at", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, da), ErrField},
		{"no drop_after", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, ra), ErrField},
		{"drop before revoke", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, `"revoked_at":"2026-11-28T18:00:00Z"`, da), ErrField},
		{"bad time", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, `"revoked_at":"yesterday"`, da), ErrField},
		{"feb 30", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, `"revoked_at":"2026-02-30T17:00:00.000000000Z"`, da), ErrField},
		{"numeric time", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, `"revoked_at":1764349200`, da), ErrMalformed},
		{"origin with space", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, ra, da, `"origin":"a b"`), ErrField},
		{"reason too long", obj(`"v":1`, `"kind":"token"`, `"id":"a"`, ra, da, `"reason":"`+strings.Repeat("r", MaxReasonLen+1)+`"`), ErrField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRevocation([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeRevocation = %v, want %v", err, tc.want)
			}
			if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in[1:len(tc.in)-1]) {
				t.Fatalf("error quotes the payload: %v", err)
			}
		})
	}
}

func TestDecodeRevocationAccepts(t *testing.T) {
	cases := []struct{ name, in string }{
		{"whitespace and unknown keys", ` { "v" : 1 , "future":{"a":[1,2.5e3,-0.1,true,false,null,"x"]}, "kind":"token",` +
			"\n\t\"id\":\"jti-1\", \"revoked_at\":\"2026-11-28T17:00:00Z\", \"drop_after\":\"2026-11-28T18:00:00+01:00\" } "},
		{"escaped id", `{"v":1,"kind":"session","id":"s\u00e9\/1","revoked_at":"2026-11-28T17:00:00.5Z","drop_after":"2026-11-28T17:10:00Z"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeRevocation([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
		})
	}
	r, _ := DecodeRevocation([]byte(cases[1].in))
	if r.ID != "sé/1" {
		t.Fatalf("escaped id decoded as %q", r.ID)
	}
}

func TestHeartbeat(t *testing.T) {
	h := Heartbeat{Head: 1 << 40, Origin: "issuer-2", Time: t0}
	b := h.AppendJSON(nil)
	got, err := DecodeHeartbeat(b)
	if err != nil || got.Head != h.Head || got.Origin != h.Origin || !got.Time.Equal(h.Time) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for in, want := range map[string]error{
		`{"v":1,"head":1}`: ErrField,
		`{"v":3,"head":1,"time":"2026-11-28T17:00:00Z"}`:          ErrVersion,
		`{"v":1,"head":"1","time":"2026-11-28T17:00:00Z"}`:        ErrMalformed,
		`{"v":1,"head":1,"head":2,"time":"2026-11-28T17:00:00Z"}`: ErrMalformed,
		strings.Repeat(" ", MaxSize+1):                            ErrTooLarge,
	} {
		if _, err := DecodeHeartbeat([]byte(in)); !errors.Is(err, want) {
			t.Errorf("DecodeHeartbeat(%.40q) = %v, want %v", in, err, want)
		}
	}
}

func TestMatches(t *testing.T) {
	before, after := t0.Add(-time.Microsecond), t0
	cases := []struct {
		r             Revocation
		jti, sid, sub string
		iat           time.Time
		want          bool
	}{
		{Revocation{Kind: KindToken, ID: "j1"}, "j1", "s", "u", before, true},
		{Revocation{Kind: KindToken, ID: "j1"}, "j2", "s", "u", before, false},
		{Revocation{Kind: KindSession, ID: "s1"}, "j", "s1", "u", after, true},
		{Revocation{Kind: KindSession, ID: "s1"}, "j", "s2", "u", before, false},
		{Revocation{Kind: KindSubject, ID: "alice", NotBefore: t0}, "j", "s", "alice", before, true},
		{Revocation{Kind: KindSubject, ID: "alice", NotBefore: t0}, "j", "s", "alice", after, false},
		{Revocation{Kind: KindSubject, ID: "alice", NotBefore: t0}, "j", "s", "bob", before, false},
		{Revocation{Kind: KindAll, NotBefore: t0}, "j", "s", "u", before, true},
		{Revocation{Kind: KindAll, NotBefore: t0}, "j", "s", "u", after, false},
	}
	for i, tc := range cases {
		if got := tc.r.Matches(tc.jti, tc.sid, tc.sub, tc.iat); got != tc.want {
			t.Errorf("case %d: %v.Matches = %v, want %v", i, tc.r.Kind, got, tc.want)
		}
	}
}

func TestKind(t *testing.T) {
	for _, k := range []Kind{KindToken, KindSession, KindSubject, KindAll} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	if Kind(0).String() != "invalid" || Kind(9).String() != "invalid" {
		t.Error("invalid kinds must print as invalid")
	}
	if _, err := ParseKind("Token"); !errors.Is(err, ErrKind) {
		t.Error("ParseKind is case-sensitive")
	}
}

func TestJSONInterfaces(t *testing.T) {
	type wrapper struct {
		R Revocation `json:"r"`
		H Heartbeat  `json:"h"`
	}
	in := wrapper{R: validRevocation(), H: Heartbeat{Head: 7, Time: t0}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out wrapper
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !equalRevocation(out.R, in.R) || out.H.Head != 7 {
		t.Fatalf("round trip through encoding/json: %+v", out)
	}
	bad := validRevocation()
	bad.ID = "a b"
	if _, err := json.Marshal(bad); !errors.Is(err, ErrID) {
		t.Fatalf("Marshal of an invalid event = %v, want ErrID", err)
	}
}

func TestDecodeDoesNotAllocateOnTheCommonPath(t *testing.T) {
	r := validRevocation()
	s := string(r.AppendJSON(nil))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeRevocationString(s); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("DecodeRevocationString allocates %.0f times per call", allocs)
	}
}

func TestPlain8MatchesTheTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			x := uint64(0x6161616161616161) // "aaaaaaaa"
			x &^= 0xff << (8 * pos)
			x |= uint64(c) << (8 * pos)
			if got, want := plain8(x), plainByte[c] == 1; got != want {
				t.Fatalf("plain8 with byte %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}

func TestSignedRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := validRevocation()
	r.Kid = "k1"
	r.Sig = ed25519.Sign(priv, r.SigningBytes(nil))
	got, err := DecodeRevocation(r.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kid != "k1" || !bytes.Equal(got.Sig, r.Sig) {
		t.Fatalf("kid/sig lost: %q %x", got.Kid, got.Sig)
	}
	// The store assigns Seq after signing: the signature holds for any Seq.
	got.Seq = 99
	if !ed25519.Verify(pub, got.SigningBytes(nil), got.Sig) {
		t.Fatal("signature does not verify after the round trip")
	}
	got.ID = "other"
	if ed25519.Verify(pub, got.SigningBytes(nil), got.Sig) {
		t.Fatal("signature verifies for a changed id")
	}
	h := Heartbeat{Head: 5, Time: t0, Kid: "k1"}
	h.Sig = ed25519.Sign(priv, h.SigningBytes(nil))
	hb, err := DecodeHeartbeat(h.AppendJSON(nil))
	if err != nil || !ed25519.Verify(pub, hb.SigningBytes(nil), hb.Sig) {
		t.Fatalf("heartbeat: %v", err)
	}
	for name, in := range map[string]string{
		"kid without sig": `{"v":1,"kind":"token","id":"a","revoked_at":"2026-11-28T17:00:00Z","drop_after":"2026-11-28T18:00:00Z","kid":"k"}`,
		"short sig":       `{"v":1,"kind":"token","id":"a","revoked_at":"2026-11-28T17:00:00Z","drop_after":"2026-11-28T18:00:00Z","kid":"k","sig":"AAAA"}`,
		"sig not b64":     `{"v":1,"kind":"token","id":"a","revoked_at":"2026-11-28T17:00:00Z","drop_after":"2026-11-28T18:00:00Z","kid":"k","sig":"!!"}`,
	} {
		if _, err := DecodeRevocation([]byte(in)); !errors.Is(err, ErrField) {
			t.Errorf("%s: %v, want ErrField", name, err)
		}
	}
}

func TestParseFixedUTCMatchesTimeDate(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 12, 31, 12, 0, 0, 1, time.UTC), time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), t0,
	} {
		for d := 0; d < 800; d++ {
			want := tm.AddDate(0, 0, -d)
			if want.Year() < 1970 {
				break
			}
			got, ok := parseFixedUTC(want.Format("2006-01-02T15:04:05.000000000Z"))
			if !ok || !got.Equal(want) {
				t.Fatalf("parseFixedUTC(%v) = %v, %v", want, got, ok)
			}
		}
	}
	for _, bad := range []string{"2023-02-29T00:00:00.000000000Z", "2100-02-29T00:00:00.000000000Z", "2024-04-31T00:00:00.000000000Z", "2024-13-01T00:00:00.000000000Z"} {
		if _, ok := parseFixedUTC(bad); ok {
			t.Errorf("parseFixedUTC accepted %s", bad)
		}
	}
}
