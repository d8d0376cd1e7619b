package testenv

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATSOptions configure an embedded nats-server.
type NATSOptions struct {
	// JetStream turns JetStream on, with file storage in a directory kept across Restart.
	// Defaults to off.
	JetStream bool
	// Port is the client port. Defaults to a free port, chosen once and kept across Restart.
	Port int
}

// NATS is an embedded nats-server on 127.0.0.1 that a test can stop and restart on the same port
// and storage directory.
type NATS struct {
	// Server is the running instance; Restart replaces it.
	Server *server.Server

	mu   sync.Mutex
	opts *server.Options
}

// StartNATS starts a single embedded nats-server and waits until it accepts connections. It is
// shut down when the test ends.
func StartNATS(t testing.TB, opts NATSOptions) *NATS {
	t.Helper()
	n := &NATS{opts: natsServerOptions(t, opts, fmt.Sprintf("test-%d", FreePort(t)))}
	n.start(t)
	t.Cleanup(n.Shutdown)
	return n
}

func natsServerOptions(t testing.TB, opts NATSOptions, name string) *server.Options {
	port := opts.Port
	if port == 0 {
		port = FreePort(t)
	}
	o := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 1 << 20,
	}
	if opts.JetStream {
		o.JetStream = true
		o.StoreDir = t.TempDir()
		o.JetStreamMaxMemory = 256 << 20
		o.JetStreamMaxStore = 1 << 30
	}
	return o
}

func (n *NATS) start(t testing.TB) {
	t.Helper()
	var (
		s   *server.Server
		err error
	)
	for attempt := 0; attempt < 50; attempt++ { // the port can linger for a moment after a stop
		o := n.opts.Clone()
		if s, err = server.NewServer(o); err != nil {
			t.Fatalf("testenv: nats-server: %v", err)
		}
		go s.Start()
		if s.ReadyForConnections(5 * time.Second) {
			break
		}
		s.Shutdown()
		s.WaitForShutdown()
		s, err = nil, fmt.Errorf("not ready for connections on port %d", n.opts.Port)
		time.Sleep(50 * time.Millisecond)
	}
	if s == nil {
		t.Fatalf("testenv: nats-server: %v", err)
	}
	n.mu.Lock()
	n.Server = s
	n.mu.Unlock()
}

// URL returns nats://127.0.0.1:PORT; it stays the same across Restart.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// Shutdown stops the node and waits until it is down. It is idempotent.
func (n *NATS) Shutdown() {
	n.mu.Lock()
	s := n.Server
	n.mu.Unlock()
	if s == nil {
		return
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts the node again on the same port, storage directory and cluster routes, and waits
// until it accepts connections (and, with JetStream, until JetStream is enabled).
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.Shutdown()
	n.start(t)
	if n.opts.JetStream {
		WaitFor(t, 10*time.Second, func() error {
			if !n.Server.JetStreamEnabled() {
				return fmt.Errorf("jetstream not enabled on %s", n.opts.ServerName)
			}
			return nil
		})
	}
}

// Connect returns a connection to this node that reconnects forever every 50ms; the caller's
// options come after those defaults. It is closed when the test ends.
func (n *NATS) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, n.URL(), opts...)
}

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{
		nats.Name(t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Cluster is a set of embedded nats-server nodes routed to each other on loopback.
type Cluster struct {
	Nodes []*NATS
}

// StartCluster starts size nodes with routes between all of them and waits for the full mesh (and,
// with JetStream, for a meta leader). The nodes are shut down when the test ends.
func StartCluster(t testing.TB, size int, opts NATSOptions) *Cluster {
	t.Helper()
	if opts.Port != 0 {
		t.Fatalf("testenv: StartCluster chooses the ports itself")
	}
	name := fmt.Sprintf("cluster-%d", FreePort(t))
	routePorts := make([]int, size)
	for i := range routePorts {
		routePorts[i] = FreePort(t)
	}
	c := &Cluster{}
	for i := 0; i < size; i++ {
		o := natsServerOptions(t, opts, fmt.Sprintf("%s-n%d", name, i))
		o.Cluster = server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: routePorts[i]}
		var routes []string
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		c.Nodes = append(c.Nodes, &NATS{opts: o})
	}
	for _, n := range c.Nodes {
		n.start(t)
		t.Cleanup(n.Shutdown)
	}
	c.WaitRoutes(t)
	if opts.JetStream {
		WaitFor(t, 20*time.Second, func() error {
			for _, n := range c.Nodes {
				if n.Server.JetStreamIsLeader() {
					return nil
				}
			}
			return fmt.Errorf("no JetStream meta leader yet")
		})
	}
	return c
}

// URLs returns the client URLs of all nodes, comma-separated.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Connect returns a connection to the cluster (all URLs, no randomization: node 0 first).
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, c.URLs(), append([]nats.Option{nats.DontRandomize()}, opts...)...)
}

// WaitRoutes waits until every running node has a route to every other node.
func (c *Cluster) WaitRoutes(t testing.TB) {
	t.Helper()
	WaitFor(t, 20*time.Second, func() error {
		for i, n := range c.Nodes {
			n.mu.Lock()
			s := n.Server
			n.mu.Unlock()
			if s == nil || !s.Running() {
				return fmt.Errorf("node %d is not running", i)
			}
			if got := s.NumRemotes(); got < len(c.Nodes)-1 {
				return fmt.Errorf("node %d routes to %d peers, want %d", i, got, len(c.Nodes)-1)
			}
		}
		return nil
	})
}
