package events

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeLayout is the fixed-width form every timestamp is encoded in. Decoders also accept any RFC 3339
// timestamp.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendJSON appends the JSON encoding of r to b and returns the extended slice. Fields appear in a
// fixed order; zero Seq, empty ID, zero NotBefore and empty Reason and Origin are omitted. r should
// have passed Validate. AppendJSON does not allocate when b has room.
func (r *Revocation) AppendJSON(b []byte) []byte {
	b = append(b, `{"v":1`...)
	if r.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, r.Seq, 10)
	}
	b = append(b, `,"kind":"`...)
	b = append(b, r.Kind.String()...)
	b = append(b, '"')
	if r.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, r.ID)
	}
	b = append(b, `,"revoked_at":`...)
	b = appendTime(b, r.RevokedAt)
	if !r.NotBefore.IsZero() {
		b = append(b, `,"not_before":`...)
		b = appendTime(b, r.NotBefore)
	}
	b = append(b, `,"drop_after":`...)
	b = appendTime(b, r.DropAfter)
	if r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, r.Reason)
	}
	if r.Origin != "" {
		b = append(b, `,"origin":`...)
		b = appendString(b, r.Origin)
	}
	return appendSig(b, r.Kid, r.Sig)
}

// SigningBytes appends the bytes a revoker signs to b: the encoding of r without its Seq (the
// store assigns it after signing) and without Sig.
func (r *Revocation) SigningBytes(b []byte) []byte {
	u := *r
	u.Seq, u.Sig = 0, nil
	return u.AppendJSON(b)
}

// SigningBytes appends the bytes a revoker signs to b: the encoding of h without Sig.
func (h *Heartbeat) SigningBytes(b []byte) []byte {
	u := *h
	u.Sig = nil
	return u.AppendJSON(b)
}

// appendSig appends the kid and sig fields when present, and closes the object.
func appendSig(b []byte, kid string, sig []byte) []byte {
	if kid != "" {
		b = append(b, `,"kid":`...)
		b = appendString(b, kid)
	}
	if sig != nil {
		b = append(b, `,"sig":"`...)
		b = base64.RawURLEncoding.AppendEncode(b, sig)
		b = append(b, '"')
	}
	return append(b, '}')
}

// decodeSig decodes a base64url signature.
func decodeSig(s string) ([]byte, error) {
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(sig) != SigSize {
		return nil, fmt.Errorf("%w: sig is not %d base64url bytes", ErrField, SigSize)
	}
	return sig, nil
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (r Revocation) MarshalJSON() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r.AppendJSON(make([]byte, 0, 192)), nil
}

// UnmarshalJSON implements json.Unmarshaler with DecodeRevocation.
func (r *Revocation) UnmarshalJSON(data []byte) error {
	v, err := DecodeRevocation(data)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// AppendJSON appends the JSON encoding of h to b and returns the extended slice.
func (h *Heartbeat) AppendJSON(b []byte) []byte {
	b = append(b, `{"v":1,"head":`...)
	b = strconv.AppendUint(b, h.Head, 10)
	if h.Origin != "" {
		b = append(b, `,"origin":`...)
		b = appendString(b, h.Origin)
	}
	b = append(b, `,"time":`...)
	b = appendTime(b, h.Time)
	return appendSig(b, h.Kid, h.Sig)
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (h Heartbeat) MarshalJSON() ([]byte, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h.AppendJSON(make([]byte, 0, 96)), nil
}

// UnmarshalJSON implements json.Unmarshaler with DecodeHeartbeat.
func (h *Heartbeat) UnmarshalJSON(data []byte) error {
	v, err := DecodeHeartbeat(data)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// DecodeRevocation parses and validates one encoded revocation. It rejects payloads over MaxSize,
// anything that is not a single JSON object, duplicate keys, an unknown version, and every event
// Validate rejects. Unknown keys are ignored. The returned strings are copies: data may be reused.
func DecodeRevocation(data []byte) (Revocation, error) {
	if len(data) > MaxSize {
		return Revocation{}, ErrTooLarge
	}
	return DecodeRevocationString(string(data))
}

// DecodeRevocationString is DecodeRevocation for a string. The returned strings may share memory
// with s, so decoding does not allocate on the common path.
func DecodeRevocationString(s string) (Revocation, error) {
	var r Revocation
	if len(s) > MaxSize {
		return r, ErrTooLarge
	}
	const (
		fV = 1 << iota
		fSeq
		fKind
		fID
		fRevokedAt
		fNotBefore
		fDropAfter
		fReason
		fOrigin
		fKid
		fSig
	)
	var (
		d       = decoder{s: s}
		seen    uint
		version uint64
		kind    string
		times   [3]string
		sig     string
	)
	err := d.object(func(key string) error {
		var bit uint
		var err error
		switch key {
		case "v":
			bit = fV
			version, err = d.uint()
		case "seq":
			bit = fSeq
			r.Seq, err = d.uint()
		case "kind":
			bit = fKind
			kind, err = d.str()
		case "id":
			bit = fID
			r.ID, err = d.str()
		case "revoked_at":
			bit = fRevokedAt
			times[0], err = d.str()
		case "not_before":
			bit = fNotBefore
			times[1], err = d.str()
		case "drop_after":
			bit = fDropAfter
			times[2], err = d.str()
		case "reason":
			bit = fReason
			r.Reason, err = d.str()
		case "origin":
			bit = fOrigin
			r.Origin, err = d.str()
		case "kid":
			bit = fKid
			r.Kid, err = d.str()
		case "sig":
			bit = fSig
			sig, err = d.str()
		default:
			return d.skip(0)
		}
		if seen&bit != 0 {
			return fmt.Errorf("%w: duplicate key", ErrMalformed)
		}
		seen |= bit
		return err
	})
	if err != nil {
		return Revocation{}, err
	}
	if seen&fSig != 0 {
		if r.Sig, err = decodeSig(sig); err != nil {
			return Revocation{}, err
		}
	}
	if version != Version {
		return Revocation{}, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	if r.Kind, err = ParseKind(kind); err != nil {
		return Revocation{}, err
	}
	for i, dst := range [...]*time.Time{&r.RevokedAt, &r.NotBefore, &r.DropAfter} {
		if seen&(fRevokedAt<<i) == 0 {
			continue
		}
		if *dst, err = parseTime(times[i]); err != nil {
			return Revocation{}, err
		}
	}
	if err := r.Validate(); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

// DecodeHeartbeat parses and validates one encoded heartbeat, with the same rules as
// DecodeRevocation.
func DecodeHeartbeat(data []byte) (Heartbeat, error) {
	var h Heartbeat
	if len(data) > MaxSize {
		return h, ErrTooLarge
	}
	const (
		fV = 1 << iota
		fHead
		fOrigin
		fTime
		fKid
		fSig
	)
	var (
		d       = decoder{s: string(data)}
		seen    uint
		version uint64
		ts, sig string
	)
	err := d.object(func(key string) error {
		var bit uint
		var err error
		switch key {
		case "v":
			bit = fV
			version, err = d.uint()
		case "head":
			bit = fHead
			h.Head, err = d.uint()
		case "origin":
			bit = fOrigin
			h.Origin, err = d.str()
		case "time":
			bit = fTime
			ts, err = d.str()
		case "kid":
			bit = fKid
			h.Kid, err = d.str()
		case "sig":
			bit = fSig
			sig, err = d.str()
		default:
			return d.skip(0)
		}
		if seen&bit != 0 {
			return fmt.Errorf("%w: duplicate key", ErrMalformed)
		}
		seen |= bit
		return err
	})
	if err != nil {
		return Heartbeat{}, err
	}
	if version != Version {
		return Heartbeat{}, fmt.Errorf("%w: %d", ErrVersion, version)
	}
	if seen&fTime != 0 {
		if h.Time, err = parseTime(ts); err != nil {
			return Heartbeat{}, err
		}
	}
	if seen&fSig != 0 {
		if h.Sig, err = decodeSig(sig); err != nil {
			return Heartbeat{}, err
		}
	}
	if err := h.Validate(); err != nil {
		return Heartbeat{}, err
	}
	return h, nil
}

// appendTime appends t in UTC in the fixed-width layout, quoted.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

// parseTime parses a timestamp: the fixed-width UTC layout on a fast path, any RFC 3339 otherwise.
func parseTime(s string) (time.Time, error) {
	if t, ok := parseFixedUTC(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%w: timestamp is not RFC 3339 within years 1970-9999", ErrField)
	}
	return t, nil
}

// parseFixedUTC parses "2006-01-02T15:04:05.000000000Z" exactly.
func parseFixedUTC(s string) (time.Time, bool) {
	if len(s) != 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
		s[19] != '.' || s[29] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i] - '0'
			if c > 9 {
				return -1
			}
			n = n*10 + int(c)
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, nsec := num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
		sec > 59 || nsec < 0 || hour < 0 || minute < 0 || sec < 0 {
		return time.Time{}, false
	}
	if day > daysIn(month, year) { // February 30th and friends
		return time.Time{}, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(secs, int64(nsec)).UTC(), true
}

// daysIn returns the number of days in month of year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to year-month-day (H. Hinnant's algorithm), much
// cheaper than time.Date, which a cold start would otherwise call millions of times.
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	m := int64(month)
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decoder is a strict scanner for one flat JSON object.
type decoder struct {
	s string
	i int
}

// maxDepth bounds the nesting of skipped unknown values.
const maxDepth = 16

var errSyntax = fmt.Errorf("%w: invalid JSON", ErrMalformed)

func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// object parses `{ "key": value, ... }` followed only by whitespace, calling field for each key with
// the decoder positioned at the value; field must consume the value.
func (d *decoder) object(field func(key string) error) error {
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return errSyntax
	}
	d.i++
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
	} else {
		for {
			d.ws()
			key, err := d.str()
			if err != nil {
				return err
			}
			d.ws()
			if d.i >= len(d.s) || d.s[d.i] != ':' {
				return errSyntax
			}
			d.i++
			d.ws()
			if err := field(key); err != nil {
				return err
			}
			d.ws()
			if d.i >= len(d.s) {
				return errSyntax
			}
			if d.s[d.i] == ',' {
				d.i++
				continue
			}
			if d.s[d.i] != '}' {
				return errSyntax
			}
			d.i++
			break
		}
	}
	d.ws()
	if d.i != len(d.s) {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// str parses a JSON string. Without escapes it returns a substring of the input.
func (d *decoder) str() (string, error) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", errSyntax
	}
	start := d.i + 1
	n := strings.IndexByte(d.s[start:], '"')
	if n < 0 {
		return "", errSyntax
	}
	v := d.s[start : start+n]
	ascii := true
	i := 0
	for ; i+8 <= len(v); i += 8 { // eight bytes at a time while they are all plain
		if !plain8(uint64(v[i]) | uint64(v[i+1])<<8 | uint64(v[i+2])<<16 | uint64(v[i+3])<<24 |
			uint64(v[i+4])<<32 | uint64(v[i+5])<<40 | uint64(v[i+6])<<48 | uint64(v[i+7])<<56) {
			break
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; plainByte[c] == 0 {
			switch {
			case c == '\\':
				return d.escaped(start)
			case c < 0x20:
				return "", errSyntax
			default:
				ascii = false
			}
		}
	}
	d.i = start + n + 1
	if !ascii && !utf8.ValidString(v) {
		return unquote(d.s[start-1 : d.i])
	}
	return v, nil
}

// plain8 reports whether the eight bytes packed in x are all printable ASCII other than the
// backslash (SWAR: a byte below 0x20, a byte with the high bit, or a byte equal to '\\' clears it).
func plain8(x uint64) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	below20 := (x - 0x20*ones) &^ x & highs // high bit set where a byte < 0x20 (or already high)
	bs := x ^ ('\\' * ones)
	isBackslash := (bs - ones) &^ bs & highs
	return (x&highs)|below20|isBackslash == 0
}

// plainByte[c] is 1 for the bytes a JSON string may hold unescaped on the fast path: printable
// ASCII other than the backslash.
var plainByte = func() (t [256]uint8) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = 1
	}
	t['\\'] = 0
	return t
}()

// escaped finishes a string that contains escapes, decoding it with encoding/json (the slow path).
func (d *decoder) escaped(start int) (string, error) {
	for i := start; i < len(d.s); i++ {
		switch d.s[i] {
		case '\\':
			i++
		case '"':
			d.i = i + 1
			return unquote(d.s[start-1 : i+1])
		}
	}
	return "", errSyntax
}

func unquote(quoted string) (string, error) {
	var v string
	if err := json.Unmarshal([]byte(quoted), &v); err != nil {
		return "", errSyntax
	}
	return v, nil
}

// uint parses a non-negative JSON integer without sign, fraction or exponent.
func (d *decoder) uint() (uint64, error) {
	start := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	digits := d.s[start:d.i]
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, errSyntax
	}
	if d.i < len(d.s) {
		switch d.s[d.i] {
		case '.', 'e', 'E':
			return 0, fmt.Errorf("%w: want an unsigned integer", ErrMalformed)
		}
	}
	if len(digits) > 19 {
		return 0, fmt.Errorf("%w: integer out of range", ErrMalformed)
	}
	var n uint64
	for i := 0; i < len(digits); i++ {
		n = n*10 + uint64(digits[i]-'0')
	}
	return n, nil
}

// skip consumes any JSON value (for unknown keys), nested at most maxDepth deep.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested too deeply", ErrMalformed)
	}
	if d.i >= len(d.s) {
		return errSyntax
	}
	switch c := d.s[d.i]; {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		d.ws()
		if d.i < len(d.s) && d.s[d.i] == end {
			d.i++
			return nil
		}
		for {
			d.ws()
			if c == '{' {
				if _, err := d.str(); err != nil {
					return err
				}
				d.ws()
				if d.i >= len(d.s) || d.s[d.i] != ':' {
					return errSyntax
				}
				d.i++
				d.ws()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.i >= len(d.s) {
				return errSyntax
			}
			if d.s[d.i] == ',' {
				d.i++
				continue
			}
			if d.s[d.i] != end {
				return errSyntax
			}
			d.i++
			return nil
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(d.s)-d.i >= len(lit) && d.s[d.i:d.i+len(lit)] == lit {
				d.i += len(lit)
				return nil
			}
		}
		return errSyntax
	}
}

// number consumes a JSON number per RFC 8259.
func (d *decoder) number() error {
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.s[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.s) && d.s[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return errSyntax
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}
