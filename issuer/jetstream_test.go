package issuer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/issuer/jssession"
	"github.com/revocast/revocast/store/jsstore"
)

// jsServers is one embedded nats-server with JetStream: sessions in a KV bucket and the revocation
// log in a stream, as in `revocast dev`.
type jsServers struct {
	nats *testenv.NATS
	n    atomic.Int64
}

func startJS(t testing.TB) *jsServers {
	return &jsServers{nats: testenv.StartNATS(t, testenv.NATSOptions{JetStream: true})}
}

func (s *jsServers) env(t *testing.T, opts ...envOption) *env {
	id := s.n.Add(1)
	nc := s.nats.Connect(t)
	ctx := context.Background()
	log, err := jsstore.New(ctx, nc, jsstore.WithStream(fmt.Sprintf("LOG%d", id)), jsstore.WithSubject(fmt.Sprintf("t%d.log", id)))
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := jsstore.NewSessions(ctx, nc, jsstore.WithSessionsBucket(fmt.Sprintf("S%d", id)))
	if err != nil {
		t.Fatal(err)
	}
	return wireEnv(t, nc, log, jssession.New(sessions), id, opts...)
}

// The issuer's whole endpoint table and flows against the JetStream stores of `revocast dev`.
func TestEndpointsJetStream(t *testing.T)         { runEndpointTable(t, startJS(t).env) }
func TestConcurrentRefreshJetStream(t *testing.T) { testConcurrentRefresh(t, startJS(t).env) }
func TestTheftDetectionJetStream(t *testing.T)    { testTheftDetection(t, startJS(t).env) }
func TestLogoutAllThenLoginJetStream(t *testing.T) {
	testLogoutAllThenLogin(t, startJS(t).env)
}
func TestSilentRefreshJetStream(t *testing.T) { testSilentRefresh(t, startJS(t).env) }
