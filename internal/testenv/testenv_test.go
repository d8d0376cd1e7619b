package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRedisKillRestartKeepsAOF(t *testing.T) {
	r := StartRedis(t, RedisOptions{AOF: true, AppendFsync: "always"})
	ctx := context.Background()
	c := r.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Kill(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded on a killed server")
	}
	r.Restart(t)
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after kill -9 and restart: %q, %v", got, err)
	}
	r.Stop(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded on a stopped server")
	}
}

func TestRedisWithoutAOFForgets(t *testing.T) {
	r := StartRedis(t, RedisOptions{Password: "s3cret"})
	other := StartRedis(t, RedisOptions{})
	if r.Addr == other.Addr {
		t.Fatal("two servers share an address")
	}
	ctx := context.Background()
	c := r.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Kill(t)
	r.Restart(t)
	if err := c.Get(ctx, "k").Err(); err == nil {
		t.Fatal("a key survived a restart without AOF")
	}
	if r.URL() != "redis://:s3cret@"+r.Addr+"/0" {
		t.Fatalf("URL = %s", r.URL())
	}
}

func TestNATSRestartKeepsURL(t *testing.T) {
	n := StartNATS(t, NATSOptions{JetStream: true})
	url := n.URL()
	nc := n.Connect(t)
	n.Restart(t)
	if n.URL() != url {
		t.Fatalf("URL changed: %s → %s", url, n.URL())
	}
	WaitFor(t, 10*time.Second, func() error {
		if !nc.IsConnected() {
			return errors.New("not reconnected")
		}
		return nil
	})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterSurvivesNodeRestart(t *testing.T) {
	c := StartCluster(t, 3, NATSOptions{})
	pub := c.Nodes[0].Connect(t)
	sub := connect(t, c.Nodes[2].URL()+","+c.Nodes[1].URL(), nats.DontRandomize())
	got := make(chan string, 16)
	if _, err := sub.Subscribe("x", func(m *nats.Msg) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	expect := func(want string) {
		t.Helper()
		// Interest propagates across routes asynchronously: publish until the message arrives.
		WaitFor(t, 10*time.Second, func() error {
			if err := pub.Publish("x", []byte(want)); err != nil {
				return err
			}
			select {
			case m := <-got:
				if m != want {
					return fmt.Errorf("got %q", m)
				}
				return nil
			case <-time.After(100 * time.Millisecond):
				return errors.New("no message yet")
			}
		})
	}
	expect("one")
	c.Nodes[2].Shutdown()
	expect("two")
	c.Nodes[2].Restart(t)
	c.WaitRoutes(t)
	expect("three")
}

func TestProxy(t *testing.T) {
	n := StartNATS(t, NATSOptions{})
	p := StartProxy(t, n.Server.Addr().String())
	nc := connect(t, p.URL("nats"), nats.PingInterval(time.Hour))
	server := n.Connect(t)
	if _, err := server.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := server.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("echo", []byte("hi"), 2*time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	p.SetLatency(50 * time.Millisecond)
	start := time.Now()
	if _, err := nc.Request("echo", []byte("slow"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("round trip with 50ms latency each way took %v", d)
	}
	p.SetLatency(0)

	p.Blackhole()
	if _, err := nc.Request("echo", []byte("lost"), 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("request through a blackhole: %v, want timeout", err)
	}
	if !nc.IsConnected() {
		t.Fatal("a blackhole closed the connection; it must stay half-open")
	}
	p.Restore()

	p.CloseAll()
	WaitFor(t, 5*time.Second, func() error {
		if nc.Stats().Reconnects == 0 {
			return errors.New("no reconnect after CloseAll")
		}
		return nil
	})
	WaitFor(t, 5*time.Second, func() error {
		_, err := nc.Request("echo", []byte("again"), 500*time.Millisecond)
		return err
	})
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("proxy stopped listening after CloseAll: %v", err)
	}
	conn.Close()
}
