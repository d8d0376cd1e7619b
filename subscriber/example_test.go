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

// Check answers from memory; the error says which kind of revocation matched.
func ExampleSubscriber_Check() {
	var sub *subscriber.Subscriber // started as in the package example
	claims := &subscriber.Claims{ID: "jti-1", SessionID: "sid-1", Subject: "alice", IssuedAt: time.Now()}
	if sub == nil {
		return
	}
	var revoked *subscriber.RevokedError
	if err := sub.Check(claims); errors.As(err, &revoked) {
		fmt.Println("revoked by", revoked.Kind)
	}
}
