package events

import (
	"encoding/json"
	"testing"
	"time"
)

// jsonRevocation is what a plain encoding/json implementation of the format would decode into;
// BenchmarkDecodeStdlib is the baseline for BenchmarkDecode.
type jsonRevocation struct {
	V         int       `json:"v"`
	Seq       uint64    `json:"seq"`
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	RevokedAt time.Time `json:"revoked_at"`
	NotBefore time.Time `json:"not_before"`
	DropAfter time.Time `json:"drop_after"`
	Reason    string    `json:"reason"`
	Origin    string    `json:"origin"`
}

func BenchmarkDecode(b *testing.B) {
	r := validRevocation()
	s := string(r.AppendJSON(nil))
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := DecodeRevocationString(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStdlib(b *testing.B) {
	r := validRevocation()
	data := r.AppendJSON(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var v jsonRevocation
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	r := validRevocation()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}

func BenchmarkEncodeStdlib(b *testing.B) {
	r := validRevocation()
	v := jsonRevocation{V: 1, Seq: r.Seq, Kind: r.Kind.String(), ID: r.ID, RevokedAt: r.RevokedAt,
		DropAfter: r.DropAfter, Reason: r.Reason, Origin: r.Origin}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&v); err != nil {
			b.Fatal(err)
		}
	}
}
