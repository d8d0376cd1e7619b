package redisstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/store/redisstore"
)

// The store appends revocations with a dense sequence and streams the live ones back. (Not run: it
// needs a Redis server on localhost:6379.)
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close() // the store never closes the client
	store := redisstore.New(client, redisstore.WithPrefix("revocast"))

	ctx := context.Background()
	now := time.Now()
	recs := []events.Revocation{{
		Kind: events.KindToken, ID: "jti-1", RevokedAt: now, DropAfter: now.Add(5 * time.Minute),
		Reason: "logout", Origin: "issuer-1",
	}}
	if err := store.Append(ctx, recs); err != nil {
		fmt.Println("not revoked:", err)
		return
	}
	fmt.Println("revoked with seq", recs[0].Seq)

	head, err := store.Snapshot(ctx, func(batch []events.Revocation) error {
		for _, r := range batch {
			fmt.Println(r.Seq, r.Kind, r.ID)
		}
		return nil
	})
	fmt.Println("head", head, err)
}
