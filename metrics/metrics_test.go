package metrics_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/metrics"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
	"github.com/revocast/revocast/subscriber"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestComponents runs a real revoker and subscriber (Redis, NATS), an authenticator and a verifier,
// revokes a token that was accepted, and reads the metrics: counters and the propagation histogram
// moved, and every metric passes the Prometheus linter.
func TestComponents(t *testing.T) {
	ctx := context.Background()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	store := redisstore.New(r.Client(t))
	rv, err := revoker.New(n.Connect(t), store)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := subscriber.New(n.Connect(t), store, subscriber.WithService("orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	if err := sub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, err := subscriber.NewVerifier(ctx, subscriber.WithKeys(map[string]crypto.PublicKey{"k1": pub}), subscriber.WithVerifiedCache(16))
	if err != nil {
		t.Fatal(err)
	}
	auth := subscriber.NewAuthenticator(v, sub)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.Subscriber(sub), metrics.Authenticator(auth), metrics.Verifier(v), metrics.Revoker(rv))

	tok := token(t, priv, "j1")
	srv := httptest.NewServer(auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	t.Cleanup(srv.Close)
	get := func() int {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(); c != 200 {
		t.Fatalf("before revocation: %d", c)
	}
	if _, err := rv.Revoke(ctx, events.Revocation{Kind: events.KindToken, ID: "j1"}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		if c := get(); c != 401 {
			return fmt.Errorf("status %d", c)
		}
		return nil
	})

	for name, want := range map[string]float64{
		"revocast_revoker_revocations_total":         1, // kind token; the other kinds are 0
		"revocast_subscriber_applied_events_total":   1,
		"revocast_subscriber_applied_sequence":       1,
		"revocast_subscriber_propagation_seconds":    1, // the histogram's count
		"revocast_revoker_append_duration_seconds":   1,
		"revocast_auth_rejections_total":             1, // reason revoked
		"revocast_subscriber_fresh":                  1,
		"revocast_verifier_duration_seconds":         1, // the second request was a cache hit
		"revocast_verifier_cache_hits_total":         -1,
		"revocast_subscriber_info":                   1,
		"revocast_subscriber_entries":                1, // kind token
		"revocast_revoker_append_errors_total":       0,
		"revocast_subscriber_invalid_events_total":   0,
		"revocast_subscriber_dropped_messages_total": 0,
		"revocast_subscriber_duplicate_events_total": 0,
		"revocast_verifier_jwks_fetch_errors_total":  0,
		"revocast_revoker_publish_errors_total":      0,
		"revocast_subscriber_behind_events":          0,
		"revocast_subscriber_status_errors_total":    0,
		"revocast_verifier_jwks_fetches_total":       0, // static keys
		"revocast_subscriber_sweeps_total":           -1,
		"revocast_subscriber_freshness_age_seconds":  -1,
		"revocast_subscriber_resyncs_total":          -1,
		"revocast_subscriber_head_sequence":          1,
		"revocast_revoker_published_total":           1,
		"revocast_revoker_heartbeats_total":          0,
		"revocast_revoker_heartbeat_errors_total":    0,
		"revocast_auth_checks_total":                 -1,
		"revocast_verifier_jwks_skipped_keys_total":  0,
	} {
		got, err := sum(reg, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want >= 0 && got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"revocast_auth_checks_total", "revocast_verifier_cache_hits_total"} {
		if got, _ := sum(reg, name); got < 1 {
			t.Errorf("%s = %v, want at least 1", name, got)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	mfs, _ := reg.Gather()
	var text strings.Builder
	for _, mf := range mfs {
		if mf.GetName() == "revocast_subscriber_info" {
			text.WriteString(mf.String())
		}
	}
	if !strings.Contains(text.String(), `value:"orders"`) {
		t.Errorf("info metric lacks the service name: %s", text.String())
	}
}

// sum gathers reg and returns the sum over the series of the metric named name (a histogram
// counts its observations).
func sum(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var s float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				s += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return s, nil
	}
	return 0, fmt.Errorf("not gathered")
}

func token(t *testing.T, key ed25519.PrivateKey, jti string) string {
	now := time.Now()
	tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "revocast", "aud": "revocast", "sub": "alice", "sid": "s1", "jti": jti, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	})
	tk.Header["typ"] = "at+jwt"
	tk.Header["kid"] = "k1"
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
