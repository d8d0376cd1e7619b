package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
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

// connectRedis parses a redis:// URL and checks the server answers. An unreachable server is an
// error that names the flag to fix.
func connectRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("invalid --redis URL: %v (want redis://[:password@]host:port/db)", err)
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %v (start Redis or set --redis / REVOCAST_REDIS)", opts.Addr, err)
	}
	return c, nil
}
