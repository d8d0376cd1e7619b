package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRedisKillRestartKeepsAOFWrites(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{AOF: true, AppendFsync: "always", Password: "s3cret:/@"})
	ctx := context.Background()
	c := r.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Kill(t)
	if err := c.Get(ctx, "k").Err(); err == nil {
		t.Fatal("GET succeeded on a killed redis")
	}
	r.Restart(t)
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after kill -9 and restart: GET k = %q, %v; want \"v\"", got, err)
	}
	if !strings.HasPrefix(r.URL(), "redis://:s3cret%3A%2F%40@127.0.0.1:") {
		t.Fatalf("URL() = %q", r.URL())
	}
}

func TestRedisStop(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{})
	r.Stop(t)
	if _, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		t.Fatal("redis still accepts connections after Stop")
	}
	r.Stop(t) // idempotent
	if _, err := os.Stat(r.logPath()); err != nil {
		t.Fatal(err)
	}
}

func TestRedisParallel(t *testing.T) {
	t.Parallel()
	a := StartRedis(t, RedisOptions{})
	b := StartRedis(t, RedisOptions{Args: []string{"--maxmemory", "100mb"}})
	if a.Addr == b.Addr || a.Dir == b.Dir {
		t.Fatalf("two servers share %s / %s", a.Addr, a.Dir)
	}
	ctx := context.Background()
	ca, cb := a.Client(t), b.Client(t)
	if err := ca.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cb.Set(ctx, "k", "b", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := ca.Get(ctx, "k").Val(); got != "a" {
		t.Fatalf("a: GET k = %q", got)
	}
	if got := cb.ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != "104857600" {
		t.Fatalf("b: maxmemory = %q", got)
	}
}

func TestNATSRestartReconnects(t *testing.T) {
	t.Parallel()
	n := StartNATS(t, NATSOptions{JetStream: true})
	url := n.URL()
	nc := n.Connect(t)
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	n.Shutdown()
	n.Shutdown() // idempotent
	n.Restart(t)
	if n.URL() != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, n.URL())
	}
	if !n.Server.JetStreamEnabled() {
		t.Fatal("JetStream not enabled after restart")
	}
	// Publish until one arrives: the subscription is re-sent on reconnect, asynchronously.
	WaitFor(t, 10*time.Second, func() error {
		if !nc.IsConnected() {
			return errors.New("not reconnected")
		}
		if err := nc.Publish("x", []byte("hi")); err != nil {
			return err
		}
		_, err := sub.NextMsg(200 * time.Millisecond)
		return err
	})
}

func TestClusterRestartNode(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, NATSOptions{JetStream: true})
	if got := len(strings.Split(c.URLs(), ",")); got != 3 {
		t.Fatalf("URLs() = %q", c.URLs())
	}
	pub := c.Nodes[0].Connect(t)
	// Connected via node 2, with the others as reconnect servers.
	sub := connect(t, c.Nodes[2].URL()+","+c.Nodes[0].URL()+","+c.Nodes[1].URL(), nats.DontRandomize())
	ch := make(chan *nats.Msg, 64)
	if _, err := sub.ChanSubscribe("rev", ch); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	// receive publishes until one arrives: interest propagation is asynchronous.
	receive := func() {
		t.Helper()
		WaitFor(t, 10*time.Second, func() error {
			if err := pub.Publish("rev", []byte("m")); err != nil {
				return err
			}
			select {
			case <-ch:
				return nil
			case <-time.After(50 * time.Millisecond):
				return errors.New("no message on node 2 subscriber")
			}
		})
	}
	receive()

	c.Nodes[2].Shutdown()
	c.Nodes[2].Restart(t)
	c.WaitRoutes(t)
	receive()
}

// readLine reads one line with a deadline.
func readLine(c net.Conn, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	return bufio.NewReader(c).ReadString('\n')
}

func TestProxy(t *testing.T) {
	t.Parallel()
	n := StartNATS(t, NATSOptions{})
	p := StartProxy(t, strings.TrimPrefix(n.URL(), "nats://"))

	// Forwards: a NATS request through the proxy gets an answer.
	responder := n.Connect(t)
	if _, err := responder.Subscribe("echo", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	responder.Flush()
	var closed = make(chan struct{}, 1)
	nc := connect(t, p.URL("nats"),
		nats.PingInterval(time.Hour), // no client-side stale detection during the blackhole
		nats.DisconnectErrHandler(func(*nats.Conn, error) { closed <- struct{}{} }))
	if _, err := nc.Request("echo", []byte("1"), 2*time.Second); err != nil {
		t.Fatalf("request through proxy: %v", err)
	}

	// Blackhole: the request times out, the connection is not closed.
	p.Blackhole()
	if _, err := nc.Request("echo", []byte("2"), 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("request during blackhole: err = %v, want timeout", err)
	}
	if !nc.IsConnected() {
		t.Fatal("connection closed by blackhole")
	}
	select {
	case <-closed:
		t.Fatal("disconnect during blackhole")
	default:
	}
	// A new connection is accepted but gets nothing (no INFO).
	raw, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if line, err := readLine(raw, 200*time.Millisecond); err == nil {
		t.Fatalf("got %q through a blackhole", line)
	}

	// Restore: requests work again on the same connection.
	p.Restore()
	if _, err := nc.Request("echo", []byte("3"), 2*time.Second); err != nil {
		t.Fatalf("request after restore: %v", err)
	}

	// Latency: a round trip takes at least 2*d.
	p.SetLatency(50 * time.Millisecond)
	start := time.Now()
	if _, err := nc.Request("echo", []byte("4"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("round trip with 50ms latency took %s", el)
	}
	p.SetLatency(0)

	// CloseAll: a hard cut, the client notices and reconnects through the proxy.
	p.CloseAll()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect after CloseAll")
	}
	WaitFor(t, 5*time.Second, func() error {
		_, err := nc.Request("echo", []byte("5"), 200*time.Millisecond)
		return err
	})
}

func TestProxyRaw(t *testing.T) {
	t.Parallel()
	// An echo server on a plain listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	p := StartProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "hello\n")
	if line, err := readLine(c, 2*time.Second); err != nil || line != "hello\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	// Bytes written during a blackhole are held and delivered on Restore.
	p.Blackhole()
	fmt.Fprintf(c, "held\n")
	if line, err := readLine(c, 100*time.Millisecond); err == nil {
		t.Fatalf("got %q through a blackhole", line)
	}
	p.Restore()
	if line, err := readLine(c, 2*time.Second); err != nil || line != "held\n" {
		t.Fatalf("after restore: %q, %v", line, err)
	}
	p.CloseAll()
	if _, err := readLine(c, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseAll: err = %v, want EOF", err)
	}
}

func TestWaitForAndFreePort(t *testing.T) {
	t.Parallel()
	n := 0
	WaitFor(t, time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if a, b := FreePort(t), FreePort(t); a == b || a == 0 {
		t.Fatalf("FreePort returned %d and %d", a, b)
	}
}

func TestClusterCore(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 2, NATSOptions{})
	nc := c.Connect(t)
	sub := c.Nodes[1].Connect(t)
	s, err := sub.SubscribeSync("core")
	if err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	WaitFor(t, 5*time.Second, func() error {
		nc.Publish("core", nil)
		_, err := s.NextMsg(50 * time.Millisecond)
		return err
	})
	c.Nodes[0].Restart(t)
	c.WaitRoutes(t)
}
