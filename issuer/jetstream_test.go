package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/issuer/jssession"
	"github.com/revocast/revocast/revoker"
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
	rv, err := revoker.New(nc, log, revoker.WithPrefix("revocast.t"+fmt.Sprint(id)))
	if err != nil {
		t.Fatal(err)
	}
	fs := &failingStore{SessionStore: jssession.New(sessions)}
	fr := &failingRevoker{Revoker: rv}
	ready := issuer.PingFunc(func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("nats not connected")
		}
		_, err := log.Head(ctx)
		return err
	})
	all := append([]envOption{func(c *issuer.Config) {
		c.Sessions, c.Revoker = fs, fr
		c.Ready = append(c.Ready, ready)
	}}, opts...)
	e := newEnv(t, all...)
	e.storeFail = func(err error) { fs.fail.Store(&err) }
	e.revokerFail = func(err error) { fr.fail.Store(&err) }
	e.readLog = func(t testing.TB) []events.Revocation {
		recs, _, err := log.After(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	e.nc, e.subject = nc, events.RevocationSubject("revocast.t"+fmt.Sprint(id))
	return e
}

// The issuer's whole endpoint table and flows against the JetStream stores of `revocast dev`.
func TestEndpointsJetStream(t *testing.T)         { runEndpointTable(t, startJS(t).env) }
func TestConcurrentRefreshJetStream(t *testing.T) { testConcurrentRefresh(t, startJS(t).env) }
func TestTheftDetectionJetStream(t *testing.T)    { testTheftDetection(t, startJS(t).env) }
func TestLogoutAllThenLoginJetStream(t *testing.T) {
	testLogoutAllThenLogin(t, startJS(t).env)
}
func TestSilentRefreshJetStream(t *testing.T) { testSilentRefresh(t, startJS(t).env) }
