package events_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/revocast/revocast/events"
)

func ExampleRevocation_AppendJSON() {
	at := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	r := events.Revocation{
		Seq:       7,
		Kind:      events.KindSession,
		ID:        "s_9f2c1a",
		RevokedAt: at,
		DropAfter: at.Add(5*time.Minute + 30*time.Second),
		Reason:    "logout",
		Origin:    "issuer-1",
	}
	fmt.Println(string(r.AppendJSON(nil)))
	// Output:
	// {"v":1,"seq":7,"kind":"session","id":"s_9f2c1a","revoked_at":"2026-11-28T17:00:00.000000000Z","drop_after":"2026-11-28T17:05:30.000000000Z","reason":"logout","origin":"issuer-1"}
}

func ExampleDecodeRevocation() {
	r, err := events.DecodeRevocation([]byte(`{"v":1,"seq":8,"kind":"subject","id":"alice",` +
		`"revoked_at":"2026-11-28T17:00:00Z","not_before":"2026-11-28T17:00:00Z","drop_after":"2026-11-28T17:05:30Z"}`))
	if err != nil {
		panic(err)
	}
	iat := time.Date(2026, 11, 28, 16, 59, 0, 0, time.UTC)
	fmt.Println(r.Seq, r.Kind, r.ID, r.Matches("any-jti", "any-sid", "alice", iat))

	_, err = events.DecodeRevocation([]byte(`{"v":1,"kind":"token","id":"revoke.>",` +
		`"revoked_at":"2026-11-28T17:00:00Z","drop_after":"2026-11-28T17:05:30Z"}`))
	fmt.Println(errors.Is(err, events.ErrID))
	// Output:
	// 8 subject alice true
	// true
}

func ExampleHeartbeat() {
	h := events.Heartbeat{Head: 1042, Origin: "issuer-1", Time: time.Date(2026, 11, 28, 17, 0, 1, 0, time.UTC)}
	b := h.AppendJSON(nil)
	fmt.Println(string(b))
	got, _ := events.DecodeHeartbeat(b)
	fmt.Println(got.Head)
	// Output:
	// {"v":1,"head":1042,"origin":"issuer-1","time":"2026-11-28T17:00:01.000000000Z"}
	// 1042
}
