package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// connectNATS connects to the NATS servers in url (comma-separated) with reconnects that never
// give up. An unreachable server is an error that names the flag to fix.
func connectNATS(ctx context.Context, url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.Timeout(3*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %v (start NATS or set --nats / REVOCAST_NATS)", url, err)
	}
	if err := ctx.Err(); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}
