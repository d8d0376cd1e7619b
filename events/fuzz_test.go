package events

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecodeRevocation checks that the decoder never panics, that everything it accepts is valid
// JSON that encoding/json reads the same way, and that accepted events survive a round trip.
func FuzzDecodeRevocation(f *testing.F) {
	r := validRevocation()
	f.Add(r.AppendJSON(nil))
	all := Revocation{Kind: KindAll, RevokedAt: t0, NotBefore: t0, DropAfter: t0, Reason: "k\"1\u2028"}
	f.Add(all.AppendJSON(nil))
	f.Add([]byte(`{"v":1,"kind":"token","id":"a\u00e9","revoked_at":"2026-11-28T17:00:00Z","drop_after":"2026-11-28T18:00:00+01:00","x":[{}]}`))
	f.Add([]byte(`{"v":1,"head":3,"time":"2026-11-28T17:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := DecodeHeartbeat(data); err == nil {
			if !json.Valid(data) {
				t.Fatalf("accepted invalid JSON heartbeat %q", data)
			}
			h2, err := DecodeHeartbeat(h.AppendJSON(nil))
			if err != nil || h2.Head != h.Head || h2.Origin != h.Origin || !h2.Time.Equal(h.Time) {
				t.Fatalf("heartbeat round trip: %+v -> %+v, %v", h, h2, err)
			}
		}
		r, err := DecodeRevocation(data)
		if err != nil {
			if strings.Contains(err.Error(), "\x00") {
				t.Fatal("error contains NUL")
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("encoding/json rejects accepted %q: %v", data, err)
		}
		for key, got := range map[string]string{"id": r.ID, "reason": r.Reason, "origin": r.Origin, "kind": r.Kind.String()} {
			want, _ := m[key].(string)
			if got != want {
				t.Fatalf("field %s: we read %q, encoding/json reads %q in %q", key, got, want, data)
			}
		}
		if v, _ := m["v"].(float64); v != Version {
			t.Fatalf("accepted version %v", m["v"])
		}
		again, err := DecodeRevocation(r.AppendJSON(nil))
		if err != nil {
			t.Fatalf("re-encoding of an accepted event is rejected: %v", err)
		}
		if !equalRevocation(again, r) {
			t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", again, r)
		}
	})
}
