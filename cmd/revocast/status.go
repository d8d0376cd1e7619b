package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/subscriber"
)

func init() {
	register(command{name: "status", summary: "list every running subscriber (service, applied sequence, freshness) and which are behind", run: runStatus})
}

// maxStatusReply bounds one reply; a real one is a few hundred bytes.
const maxStatusReply = 64 << 10

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "ask every subscriber for its status over NATS and print the fleet; exit 1 when one is behind or stale"
	fs := newFlagSet("status", summary, stderr)
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL (comma-separated for a cluster)")
	prefix := fs.String("prefix", events.DefaultPrefix, "NATS subject prefix")
	wait := fs.Duration("timeout", time.Second, "how long to collect replies")
	expect := fs.Int("expect", 0, "return as soon as this many subscribers answered (and fail if fewer did)")
	asJSON := fs.Bool("json", false, "print the replies as JSON lines instead of a table")
	var auth natsAuth
	auth.register(fs)
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	nc, err := connectNATS(ctx, *natsURL, "revocast-status", &auth)
	if err != nil {
		return err
	}
	defer nc.Close()
	replies, invalid, err := gatherStatus(ctx, nc, events.StatusSubject(*prefix), *wait, *expect)
	if err != nil {
		return err
	}
	if len(replies) == 0 {
		return fmt.Errorf("no subscriber answered on %s within %v (are services running on this NATS, with --prefix %s?)", events.StatusSubject(*prefix), *wait, *prefix)
	}
	fleet := summarize(replies)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range fleet.rows {
			_ = enc.Encode(struct {
				subscriber.StatusReply
				Behind uint64 `json:"behind"`
			}{r.StatusReply, r.behind})
		}
	} else {
		printFleet(stdout, fleet)
	}
	if invalid > 0 {
		fmt.Fprintf(stderr, "revocast status: %d replies were not valid status replies and were ignored\n", invalid)
	}
	switch {
	case *expect > 0 && len(replies) < *expect:
		return &exitError{1, fmt.Errorf("%d of %d expected subscribers answered", len(replies), *expect)}
	case fleet.lagging > 0:
		return &exitError{1, fmt.Errorf("%d of %d subscribers behind or stale", fleet.lagging, len(replies))}
	}
	return nil
}

// gatherStatus sends one status request and collects the replies for up to wait, or until expect
// replies arrived (expect > 0). Replies that do not decode are counted, not returned.
func gatherStatus(ctx context.Context, nc *nats.Conn, subject string, wait time.Duration, expect int) (replies []subscriber.StatusReply, invalid int, err error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, 0, fmt.Errorf("subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, 0, fmt.Errorf("request: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return nil, 0, fmt.Errorf("request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for expect <= 0 || len(replies) < expect {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			return replies, invalid, err
		}
		var r subscriber.StatusReply
		if len(m.Data) > maxStatusReply || json.Unmarshal(m.Data, &r) != nil || r.Service == "" {
			invalid++
			continue
		}
		replies = append(replies, r)
	}
	return replies, invalid, nil
}

// fleet is the replies with how far each is behind the highest head any of them has seen.
type fleet struct {
	rows    []fleetRow
	head    uint64
	lagging int
}

type fleetRow struct {
	subscriber.StatusReply
	behind uint64
}

func summarize(replies []subscriber.StatusReply) fleet {
	var f fleet
	for _, r := range replies {
		f.head = max(f.head, r.Head, r.Applied)
	}
	for _, r := range replies {
		row := fleetRow{StatusReply: r, behind: f.head - min(f.head, r.Applied)}
		if row.behind > 0 || !r.Fresh {
			f.lagging++
		}
		f.rows = append(f.rows, row)
	}
	sort.Slice(f.rows, func(i, j int) bool {
		a, b := f.rows[i], f.rows[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Instance < b.Instance
	})
	return f
}

func printFleet(w io.Writer, f fleet) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SERVICE\tINSTANCE\tAPPLIED\tBEHIND\tFRESH\tFRESH AGE\tLAG P99\tENTRIES\tRESYNCS\tUPTIME\tSTATE\t")
	for _, r := range f.rows {
		var entries int64
		for _, n := range r.Entries {
			entries += n
		}
		var resyncs uint64
		for _, n := range r.Resyncs {
			resyncs += n
		}
		state := "ok"
		switch {
		case !r.Fresh:
			state = "STALE"
		case r.behind > 0:
			state = "BEHIND"
		}
		fresh := "no"
		if r.Fresh {
			fresh = "yes"
		}
		lag := "-"
		if r.LagP99Millis > 0 {
			lag = "≤" + fmtMillis(r.LagP99Millis)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", r.Service, r.Instance, r.Applied, r.behind, fresh,
			fmtMillis(float64(r.FreshnessAgeMillis)), lag, entries, resyncs, (time.Duration(r.UptimeSeconds) * time.Second).String(), state)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d subscribers, fleet head %d, %d behind or stale\n", len(f.rows), f.head, f.lagging)
}

func fmtMillis(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	}
	return strconv.FormatFloat(ms, 'f', -1, 64) + "ms"
}
