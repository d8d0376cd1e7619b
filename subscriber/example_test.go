package subscriber_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

// A service embeds revocation checking in a dozen lines: connect, start the subscriber, verify
// tokens against the issuer's JWKS, wrap the router.
func Example() {
	ctx := context.Background()
	nc, _ := nats.Connect("nats://127.0.0.1:4222")
	defer nc.Close()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()

	sub, _ := subscriber.New(nc, redisstore.New(rdb))
	if err := sub.Start(ctx); err != nil { // cold start: snapshot + live events
		log.Fatal(err)
	}
	defer sub.Close()
	verifier, _ := subscriber.NewVerifier(ctx, subscriber.WithJWKS("http://127.0.0.1:8080/.well-known/jwks.json"))
	auth := subscriber.NewAuthenticator(verifier, sub)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello", subscriber.ClaimsFrom(r.Context()).Subject)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", auth.Middleware(mux)))
}

// memLog is a durable log kept in memory, standing in for store/redisstore in this example.
type memLog []events.Revocation

func (l memLog) Snapshot(_ context.Context, fn func([]events.Revocation) error) (uint64, error) {
	return uint64(len(l)), fn(l)
}

func (l memLog) After(_ context.Context, after uint64, limit int) ([]events.Revocation, uint64, error) {
	recs := l[min(int(after), len(l)):]
	return recs[:min(limit, len(recs))], uint64(len(l)), nil
}

// Check answers from memory; the error says which kind of revocation matched. Here the
// subscriber has no NATS connection (nil): it loads the log at Start and then polls it.
func ExampleSubscriber_Check() {
	now := time.Now()
	log := memLog{
		{Seq: 1, Kind: events.KindSession, ID: "sid-1", RevokedAt: now, DropAfter: now.Add(time.Hour)},
		{Seq: 2, Kind: events.KindSubject, ID: "alice", RevokedAt: now, NotBefore: now, DropAfter: now.Add(time.Hour)},
	}
	sub, err := subscriber.New(nil, log)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	if err := sub.Start(context.Background()); err != nil {
		panic(err)
	}
	for _, c := range []*subscriber.Claims{
		{ID: "jti-1", SessionID: "sid-1", Subject: "bob", IssuedAt: now},                     // its session was revoked
		{ID: "jti-2", SessionID: "sid-2", Subject: "alice", IssuedAt: now.Add(-time.Minute)}, // alice logged out everywhere after it was issued
		{ID: "jti-3", SessionID: "sid-3", Subject: "alice", IssuedAt: now.Add(time.Second)},  // issued after that: fine
		{ID: "jti-4"}, // no sid: cannot be checked
	} {
		var revoked *subscriber.RevokedError
		switch err := sub.Check(c); {
		case errors.As(err, &revoked):
			fmt.Println(c.ID, "revoked by", revoked.Kind)
		case err != nil:
			fmt.Println(c.ID, "rejected:", errors.Is(err, subscriber.ErrIncomplete))
		default:
			fmt.Println(c.ID, "ok")
		}
	}
	// Output:
	// jti-1 revoked by session
	// jti-2 revoked by subject
	// jti-3 ok
	// jti-4 rejected: true
}
