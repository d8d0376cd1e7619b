package revoker_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

// ExampleNew wires a Revoker to Redis and NATS and runs its heartbeat loop. (It needs servers, so
// it is compiled but not run.)
func ExampleNew() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close() // the Revoker never closes it
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()

	r, err := revoker.New(nc, redisstore.New(rdb),
		revoker.WithOrigin("issuer-1"),
		revoker.WithErrorHandler(func(err error) { log.Print(err) }))
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = r.Run(ctx) }() // heartbeats until ctx is done

	seq, err := r.Revoke(ctx, events.Revocation{Kind: events.KindSession, ID: "sid-42", Reason: "logout"})
	if err != nil {
		log.Fatal(err) // not durable: retry or report, never assume it took effect
	}
	fmt.Println("durable as", seq)
}

// ExampleRevoker_Revoke revokes one session. The log here is an in-memory stand-in and there is no
// NATS connection (a store-only revoker); the filled-in fields are printed.
func ExampleRevoker_Revoke() {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := revoker.New(nil, &memLog{}, revoker.WithOrigin("issuer-1"),
		revoker.WithClock(func() time.Time { return now }))
	if err != nil {
		log.Fatal(err)
	}
	seq, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindSession, ID: "sid-42", Reason: "logout"})
	fmt.Println(seq, err)
	// Output: 1 <nil>
}

// ExampleRevoker_Revoke_logoutEverywhere revokes every token of a user issued before now. Tokens
// the issuer mints afterwards (with iat = revoker.IssuedAt(time.Now())) stay valid.
func ExampleRevoker_Revoke_logoutEverywhere() {
	now := time.Date(2026, 1, 2, 3, 4, 5, 999_999_500, time.UTC)
	l := &memLog{}
	r, _ := revoker.New(nil, l, revoker.WithClock(func() time.Time { return now }))
	if _, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindSubject, ID: "user-7"}); err != nil {
		log.Fatal(err)
	}
	rec := l.all()[0]
	fmt.Println("not_before:", rec.NotBefore.Format(time.RFC3339Nano))
	fmt.Println("old token revoked:", rec.Matches("", "", "user-7", revoker.IssuedAt(now.Add(-time.Millisecond))))
	fmt.Println("new token revoked:", rec.Matches("", "", "user-7", revoker.IssuedAt(now.Add(time.Millisecond))))
	// Output:
	// not_before: 2026-01-02T03:04:06Z
	// old token revoked: true
	// new token revoked: false
}

// ExampleRevoker_RevokeBatch revokes many tokens at once and shows what is known when the store
// fails part-way: the durable prefix of the batch.
func ExampleRevoker_RevokeBatch() {
	outage := errors.New("store down")
	l := &memLog{failAppend: func(call int) error {
		if call == 2 {
			return outage
		}
		return nil
	}}
	r, _ := revoker.New(nil, l, revoker.WithBatchChunk(1000))
	revs := make([]events.Revocation, 5000)
	for i := range revs {
		revs[i] = events.Revocation{Kind: events.KindToken, ID: fmt.Sprintf("jti-%d", i), Reason: "client_compromised"}
	}
	last, err := r.RevokeBatch(context.Background(), revs)
	var be *revoker.BatchError
	if errors.As(err, &be) {
		fmt.Println("durable:", be.Durable, "last seq:", last, "store error:", errors.Is(err, revoker.ErrStore))
		// Retry revs[be.Durable:] later.
	}
	// Output: durable: 2000 last seq: 2000 store error: true
}

// ExampleRevoker_Run runs the heartbeat loop until the context is done. (Compiled, not run.)
func ExampleRevoker_Run() {
	var r *revoker.Revoker // from revoker.New
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		log.Print(err)
	}
}
