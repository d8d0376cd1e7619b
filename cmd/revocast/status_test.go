package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/subscriber"
)

// TestFleetStatusAndMetrics runs an issuer and three demo services (orders, billing, shipping),
// each on its own node of a 3-node NATS cluster, logs out, and checks that /metrics on both sides
// moved (the demo's propagation histogram, the issuer's logout and revocation counters) and that
// `revocast status` lists all three with the same applied sequence. Then one service's NATS link
// goes silent (half-open): status says only two of the three expected answered, and exits 1.
func TestFleetStatusAndMetrics(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	cluster := testenv.StartCluster(t, 3, testenv.NATSOptions{})
	dir := t.TempDir()
	port := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	issuerAddr := port()
	background(t, "issuer", "--http", issuerAddr, "--redis", r.URL(), "--nats", cluster.URLs(), "--users", writeUsers(t, dir),
		"--keys", filepath.Join(dir, "keys"), "--insecure-cookies")
	waitHTTP(t, "http://"+issuerAddr+"/readyz")
	services := []string{"orders", "billing", "shipping"}
	var demos []string
	proxy := testenv.StartProxy(t, strings.TrimPrefix(cluster.Nodes[2].URL(), "nats://"))
	for i, name := range services {
		natsURL := cluster.Nodes[i].URL()
		if i == 2 {
			natsURL = proxy.URL("nats")
		}
		a := port()
		background(t, "demo-service", "--http", a, "--redis", r.URL(), "--nats", natsURL, "--service", name,
			"--jwks", "http://"+issuerAddr+"/.well-known/jwks.json")
		demos = append(demos, a)
	}
	for _, a := range demos {
		waitHTTP(t, "http://"+a+"/readyz")
	}

	c := client{t}
	code, login := c.do("POST", "http://"+issuerAddr+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
	if code != 200 {
		t.Fatalf("login: %d %v", code, login)
	}
	tok := login["access_token"].(string)
	if code, _ := c.do("GET", "http://"+demos[0]+"/whoami", tok, ""); code != 200 {
		t.Fatalf("whoami: %d", code)
	}
	if code, _ := c.do("POST", "http://"+issuerAddr+"/v1/logout", tok, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		for _, a := range demos {
			if code, _ := c.do("GET", "http://"+a+"/whoami", tok, ""); code != 401 {
				return fmt.Errorf("demo %s: %d after logout", a, code)
			}
		}
		return nil
	})

	demo := scrape(t, "http://"+demos[0]+"/metrics")
	for series, atLeast := range map[string]float64{
		"revocast_subscriber_propagation_seconds_count":                       1,
		"revocast_subscriber_applied_sequence":                                1,
		`revocast_auth_rejections_total{reason="revoked"}`:                    1,
		`revocast_subscriber_entries{kind="session"}`:                         1,
		"revocast_auth_checks_total":                                          2,
		`revocast_http_requests_total{code="401",method="get",server="demo"}`: 1,
	} {
		if demo[series] < atLeast {
			t.Errorf("demo /metrics: %s = %v, want at least %v", series, demo[series], atLeast)
		}
	}
	if b := demo[`revocast_subscriber_propagation_seconds_bucket{le="+Inf"}`]; b != demo["revocast_subscriber_propagation_seconds_count"] {
		t.Errorf("propagation histogram +Inf bucket %v != count", b)
	}
	iss := scrape(t, "http://"+issuerAddr+"/metrics")
	for series, want := range map[string]float64{
		`revocast_issuer_events_total{event="login"}`:        1,
		`revocast_issuer_events_total{event="logout"}`:       1,
		`revocast_revoker_revocations_total{kind="session"}`: 1,
		"revocast_revoker_append_duration_seconds_count":     1,
		"revocast_revoker_publish_errors_total":              0,
	} {
		if iss[series] != want {
			t.Errorf("issuer /metrics: %s = %v, want %v", series, iss[series], want)
		}
	}

	code, out, stderr := runCmd(t, "", "status", "--nats", cluster.URLs(), "--expect", "3", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("status exited %d: %s\n%s", code, stderr, out)
	}
	for _, name := range services {
		if !strings.Contains(out, name) {
			t.Errorf("status lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "3 subscribers, fleet head 1, 0 behind or stale") || strings.Count(out, " ok\n") != 3 {
		t.Errorf("status:\n%s", out)
	}
	t.Logf("revocast status:\n%s", out)
	checkMetricNames(t, demo, iss)

	proxy.Blackhole() // shipping's NATS connection stays open but carries nothing
	defer proxy.Restore()
	code, out, stderr = runCmd(t, "", "status", "--nats", cluster.URLs(), "--expect", "3", "--timeout", "1s")
	if code != 1 || !strings.Contains(stderr, "2 of 3 expected subscribers answered") || strings.Contains(out, "shipping") {
		t.Fatalf("status with shipping cut off: exit %d, %s\n%s", code, stderr, out)
	}
}

// scrape reads a Prometheus text exposition into series → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: bad line %q", url, line)
		}
		m[line[:i]] = v
	}
	return m
}

// TestFleetSummary: the fleet head is the highest sequence any instance has seen; an instance
// below it is behind, one that is not fresh is stale, and both are counted and marked.
func TestFleetSummary(t *testing.T) {
	f := summarize([]subscriber.StatusReply{
		{Service: "b", Instance: "h:1", Applied: 10, Head: 10, Fresh: true},
		{Service: "a", Instance: "h:2", Applied: 7, Head: 9, Fresh: true},
		{Service: "a", Instance: "h:3", Applied: 10, Head: 10, Fresh: false, FreshnessAgeMillis: 12_000},
	})
	if f.head != 10 || f.lagging != 2 {
		t.Fatalf("head %d lagging %d", f.head, f.lagging)
	}
	var b strings.Builder
	printFleet(&b, f)
	lines := strings.Split(b.String(), "\n")
	for i, want := range []string{"h:2 .* 7 +3 .*BEHIND", "h:3 .* 10 +0 +no +12.0s .*STALE", "h:1 .* 10 +0 +yes .* ok"} {
		if !matches(want, lines[i+1]) {
			t.Errorf("row %d %q does not match %q\n%s", i, lines[i+1], want, b.String())
		}
	}
	if !strings.Contains(b.String(), "3 subscribers, fleet head 10, 2 behind or stale") {
		t.Errorf("summary:\n%s", b.String())
	}
}

func matches(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// checkMetricNames: every revocast_* metric that docs/OPERATIONS.md, the alert rules and the
// Grafana dashboard name is exported by the issuer or the demo service, and the dashboard parses.
func checkMetricNames(t *testing.T, scrapes ...map[string]float64) {
	t.Helper()
	have := map[string]bool{}
	for _, m := range scrapes {
		for series := range m {
			name, _, _ := strings.Cut(series, "{")
			have[name] = true
		}
	}
	dash, err := os.ReadFile("../../deploy/grafana/dashboards/revocast.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("dashboard: %v, %d panels", err, len(d.Panels))
	}
	ref := regexp.MustCompile(`revocast_[a-z_]+[a-z]`)
	for _, f := range []string{"../../docs/OPERATIONS.md", "../../deploy/prometheus/alerts.yml", "../../deploy/grafana/dashboards/revocast.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names := ref.FindAllString(string(b), -1)
		if len(names) < 5 {
			t.Fatalf("%s names only %d metrics", f, len(names))
		}
		for _, n := range names {
			if !have[n] && !have[n+"_count"] {
				t.Errorf("%s names %s, which no revocast service exports", f, n)
			}
		}
	}
}

// TestStatusIgnoresJunkReplies: replies that are not status replies (not JSON, no service name,
// oversized) are counted and skipped; the valid ones are kept.
func TestStatusIgnoresJunkReplies(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc := n.Connect(t)
	junk := [][]byte{[]byte("not json"), []byte(`{"applied":3}`), []byte(`{"service":"x","applied":"three"}`),
		append(append([]byte(`{"service":"big","instance":"`), bytes.Repeat([]byte("a"), maxStatusReply)...), `"}`...),
		[]byte(`{"service":"good","instance":"h:1","applied":3,"head":3,"fresh":true}`)}
	for _, b := range junk {
		if _, err := nc.Subscribe("revocast.v1.status", func(m *nats.Msg) { _ = m.Respond(b) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	replies, invalid, err := gatherStatus(context.Background(), n.Connect(t), "revocast.v1.status", 2*time.Second, len(junk))
	if err != nil || invalid != len(junk)-1 || len(replies) != 1 || replies[0].Service != "good" || replies[0].Applied != 3 {
		t.Fatalf("replies %+v, invalid %d, err %v", replies, invalid, err)
	}
}
