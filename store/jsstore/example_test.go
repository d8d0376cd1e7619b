package jsstore_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/store/jsstore"
)

// Example runs the log on an embedded nats-server with JetStream file storage, as `revocast dev`
// does: Append assigns the stream's dense sequence, Snapshot and After read it back.
func Example() {
	dir, _ := os.MkdirTemp("", "jsstore-example")
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		panic("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close() // the Store never closes it

	ctx := context.Background()
	log, err := jsstore.New(ctx, nc) // stream REVOCAST on subject revocast.store.log
	if err != nil {
		panic(err)
	}
	now := time.Now()
	recs := []events.Revocation{
		{Kind: events.KindSession, ID: "sid-1", RevokedAt: now, DropAfter: now.Add(10 * time.Minute)},
		{Kind: events.KindToken, ID: "jti-1", RevokedAt: now, DropAfter: now.Add(5 * time.Minute)},
	}
	if err := log.Append(ctx, recs); err != nil { // one atomic batch
		panic(err)
	}
	fmt.Println("assigned", recs[0].Seq, recs[1].Seq)
	head, _ := log.Snapshot(ctx, func(batch []events.Revocation) error {
		for _, r := range batch {
			fmt.Println(r.Seq, r.Kind, r.ID)
		}
		return nil
	})
	after, head2, _ := log.After(ctx, 1, 100)
	fmt.Println("head", head, "after 1:", len(after), "entry, head", head2)
	// Output:
	// assigned 1 2
	// 1 session sid-1
	// 2 token jti-1
	// head 2 after 1: 1 entry, head 2
}
