package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
)

func init() {
	register(command{name: "watch", summary: "print every revocation (and heartbeat) as a JSON line as it arrives", run: runWatch})
}

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "print every revocation event as a JSON line as it arrives"
	fs := newFlagSet("watch", summary, stderr)
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL (comma-separated for a cluster)")
	prefix := fs.String("prefix", events.DefaultPrefix, "NATS subject prefix")
	heartbeats := fs.Bool("heartbeats", false, "also print heartbeats")
	var auth natsAuth
	auth.register(fs)
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	nc, err := connectNATS(ctx, *natsURL, "revocast-watch", &auth)
	if err != nil {
		return err
	}
	defer nc.Close()

	var mu sync.Mutex // one line at a time
	print := func(v any) {
		b, _ := json.Marshal(v)
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "%s\n", b)
	}
	sub, err := nc.Subscribe(events.RevocationSubject(*prefix), func(m *nats.Msg) {
		r, err := events.DecodeRevocation(m.Data)
		if err != nil {
			print(map[string]string{"invalid": err.Error()})
			return
		}
		print(watchLine{Type: "revocation", Revocation: &r})
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	if *heartbeats {
		hsub, err := nc.Subscribe(events.HeartbeatSubject(*prefix), func(m *nats.Msg) {
			h, err := events.DecodeHeartbeat(m.Data)
			if err != nil {
				print(map[string]string{"invalid": err.Error()})
				return
			}
			print(watchLine{Type: "heartbeat", Heartbeat: &h})
		})
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		defer hsub.Unsubscribe()
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	fmt.Fprintf(stderr, "watching %s on %s (Ctrl-C to stop)\n", events.RevocationSubject(*prefix), nc.ConnectedUrlRedacted())
	<-ctx.Done()
	return nil
}

// watchLine is one line of `revocast watch` output.
type watchLine struct {
	Type       string             `json:"type"`
	Revocation *events.Revocation `json:"revocation,omitempty"`
	Heartbeat  *events.Heartbeat  `json:"heartbeat,omitempty"`
}
