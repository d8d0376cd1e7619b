package testenv

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATSOptions configures StartNATS and StartCluster. The zero value is a
// single core-NATS node on a free loopback port.
type NATSOptions struct {
	// JetStream turns JetStream on, with file storage in a t.TempDir() that
	// survives Restart, 256MB memory and 1GB file store limits. Defaults to off.
	JetStream bool
	// Port is the client port. Defaults to 0: a free port is chosen on the
	// first start and kept for every Restart. Ignored by StartCluster, which
	// always picks free ports.
	Port int
	// ConfigFile is a nats-server configuration file whose authorization (users, permissions)
	// the node runs with; everything else (ports, storage, cluster) is testenv's. Defaults to
	// none: no authentication.
	ConfigFile string
}

// loadAuth parses a configuration file for its authorization settings.
func loadAuth(t testing.TB, path string) *server.Options {
	t.Helper()
	if path == "" {
		return nil
	}
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("testenv: nats config %s: %v", path, err)
	}
	return o
}

// NATS is an embedded nats-server node on 127.0.0.1 (NoLog, NoSigs). Its URL
// stays the same across Restart. t.Cleanup shuts it down. Its methods must
// be called from the test goroutine.
type NATS struct {
	// Server is the current server instance; Restart replaces it. Do not
	// keep it across a Restart, and do not read it from another goroutine
	// while Restart runs.
	Server *server.Server

	name     string          // ServerName, unique
	port     int             // client port, fixed after the first start
	jsDir    string          // JetStream store dir, "" without JetStream
	cluster  string          // cluster name, "" for a single node
	clPort   int             // cluster (route) port
	routes   string          // comma-separated route URLs of the other nodes
	auth     *server.Options // authorization from NATSOptions.ConfigFile, nil without
	shutdown sync.Once
}

// serverSeq makes server and cluster names unique within the process.
var serverSeq atomic.Int64

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// uniqueName returns a name derived from the test name that is unique in
// this process and safe as a NATS server or cluster name.
func uniqueName(t testing.TB, kind string) string {
	n := nameUnsafe.ReplaceAllString(t.Name(), "_")
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return fmt.Sprintf("%s-%s-%d", kind, n, serverSeq.Add(1))
}

// StartNATS starts an embedded nats-server on 127.0.0.1 and waits until it
// accepts connections (and, with JetStream, until JetStream is enabled).
// It calls t.Fatal if the server does not start within 10s. t.Cleanup shuts
// it down and waits for it.
func StartNATS(t testing.TB, opts NATSOptions) *NATS {
	t.Helper()
	n := &NATS{name: uniqueName(t, "n"), port: opts.Port, auth: loadAuth(t, opts.ConfigFile)}
	if n.port == 0 {
		n.port = -1
	}
	if opts.JetStream {
		n.jsDir = t.TempDir()
	}
	t.Cleanup(n.Shutdown)
	if err := n.start(); err != nil {
		t.Fatalf("testenv: start nats-server: %v", err)
	}
	return n
}

// options returns fresh server options for the next start.
func (n *NATS) options() *server.Options {
	o := &server.Options{
		ServerName: n.name,
		Host:       "127.0.0.1",
		Port:       n.port,
		NoLog:      true,
		NoSigs:     true,
		// Keep shutdown and route reconnection quick in tests.
		LameDuckDuration: 0,
	}
	if n.jsDir != "" {
		o.JetStream = true
		o.StoreDir = n.jsDir
		o.JetStreamMaxMemory = 256 << 20
		o.JetStreamMaxStore = 1 << 30
	}
	if n.auth != nil {
		o.Users, o.Nkeys, o.Authorization, o.Username, o.Password = n.auth.Users, n.auth.Nkeys, n.auth.Authorization, n.auth.Username, n.auth.Password
	}
	if n.cluster != "" {
		o.Cluster.Name = n.cluster
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = n.clPort
		o.Routes = server.RoutesFromStr(n.routes)
	}
	return o
}

// start creates and starts a server, retrying while the port is briefly busy.
func (n *NATS) start() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := n.startOnce()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *NATS) startOnce() error {
	s, err := server.NewServer(n.options())
	if err != nil {
		return err
	}
	s.Start()
	if !s.ReadyForConnections(3 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return errors.New("server not ready for connections within 3s (port busy?)")
	}
	if n.port <= 0 {
		n.port = s.Addr().(*net.TCPAddr).Port
	}
	n.Server = s
	n.shutdown = sync.Once{}
	if n.jsDir != "" && n.cluster == "" {
		if err := waitFor(10*time.Second, func() error {
			if !s.JetStreamEnabled() {
				return errors.New("JetStream not enabled yet")
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// URL returns the client URL, nats://127.0.0.1:PORT. It is the same across
// Restart.
func (n *NATS) URL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
}

// Shutdown stops the node and waits until it has shut down. Clients see a
// disconnect. It is idempotent and safe to call before Restart.
func (n *NATS) Shutdown() {
	n.shutdown.Do(func() {
		if n.Server != nil {
			n.Server.Shutdown()
			n.Server.WaitForShutdown()
		}
	})
}

// Restart shuts the node down if it is running and starts it again on the
// same client port, cluster port, routes and JetStream store directory, then
// waits until it accepts connections (and, for a single JetStream node, until
// JetStream is enabled). In a cluster, call Cluster.WaitRoutes afterwards to
// wait for the full mesh and JetStream meta leader.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.Shutdown()
	if err := n.start(); err != nil {
		t.Fatalf("testenv: restart nats-server %s on %s: %v", n.name, n.URL(), err)
	}
}

// Connect returns a connection to this node. Defaults: Name(t.Name()),
// ReconnectWait(50ms), MaxReconnects(-1) (reconnect forever), no reconnect
// jitter, Timeout(2s); opts are applied after them and override them.
// t.Cleanup closes the connection; callers may close it earlier.
func (n *NATS) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, n.URL(), opts...)
}

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{
		nats.Name(t.Name()),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.MaxReconnects(-1),
		nats.ReconnectJitter(0, 0),
		nats.Timeout(2 * time.Second),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Cluster is a full mesh of embedded nats-server nodes routed on loopback,
// started by StartCluster. t.Cleanup shuts every node down.
type Cluster struct {
	// Nodes are the cluster's nodes, in start order. Restart or shut down
	// individual nodes through them.
	Nodes []*NATS
}

// StartCluster starts size nodes (size >= 1) with a cluster name unique to
// the test, fixed loopback route ports, and each node routed to all others.
// It waits until every node sees size-1 remote servers and, with JetStream,
// until a meta leader is elected and every node is current. opts.Port is
// ignored. It calls t.Fatal if the cluster does not form within 20s.
func StartCluster(t testing.TB, size int, opts NATSOptions) *Cluster {
	t.Helper()
	if size < 1 {
		t.Fatalf("testenv: StartCluster: size %d < 1", size)
	}
	name := uniqueName(t, "c")
	c := &Cluster{Nodes: make([]*NATS, size)}
	routeURLs := make([]string, size)
	for i := range c.Nodes {
		n := &NATS{
			name:    fmt.Sprintf("%s-%d", name, i),
			port:    -1,
			cluster: name,
			clPort:  FreePort(t),
			auth:    loadAuth(t, opts.ConfigFile),
		}
		if opts.JetStream {
			n.jsDir = t.TempDir()
		}
		routeURLs[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", n.clPort)
		c.Nodes[i] = n
	}
	for i, n := range c.Nodes {
		others := make([]string, 0, size-1)
		for j, u := range routeURLs {
			if j != i {
				others = append(others, u)
			}
		}
		n.routes = strings.Join(others, ",")
	}
	for _, n := range c.Nodes {
		t.Cleanup(n.Shutdown)
	}
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			t.Fatalf("testenv: start cluster node %s: %v", n.name, err)
		}
	}
	c.WaitRoutes(t)
	return c
}

// URLs returns the comma-separated client URLs of all nodes, suitable for
// nats.Connect.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Connect returns a connection to the cluster with all nodes' URLs (the
// first node is tried first), with the same defaults and cleanup as
// NATS.Connect.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, c.URLs(), append([]nats.Option{nats.DontRandomize()}, opts...)...)
}

// WaitRoutes waits up to 20s until every node sees all size-1 others and,
// with JetStream, until a meta leader exists and every node is current.
// Call it after restarting nodes. It calls t.Fatal on timeout.
func (c *Cluster) WaitRoutes(t testing.TB) {
	t.Helper()
	WaitFor(t, 20*time.Second, func() error {
		for _, n := range c.Nodes {
			if n.Server == nil || !n.Server.Running() {
				return fmt.Errorf("node %s is not running", n.name)
			}
			if got, want := n.Server.NumRemotes(), len(c.Nodes)-1; got != want {
				return fmt.Errorf("node %s sees %d of %d other nodes", n.name, got, want)
			}
		}
		if c.Nodes[0].jsDir == "" {
			return nil
		}
		leader := false
		for _, n := range c.Nodes {
			if !n.Server.JetStreamEnabled() {
				return fmt.Errorf("node %s: JetStream not enabled yet", n.name)
			}
			if !n.Server.JetStreamIsCurrent() {
				return fmt.Errorf("node %s: JetStream meta not current", n.name)
			}
			leader = leader || n.Server.JetStreamIsLeader()
		}
		if !leader {
			return errors.New("no JetStream meta leader yet")
		}
		return nil
	})
}
