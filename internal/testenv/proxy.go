package testenv

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Proxy is a loopback TCP proxy for fault injection. Clients dial Addr
// instead of the target; every accepted connection is forwarded to a fresh
// connection to the target. It is safe for concurrent use. t.Cleanup closes
// the listener and all connections and waits for all of its goroutines.
//
// Semantics of the faults:
//   - Blackhole: nothing is forwarded in either direction and nothing is
//     closed, like a silent network partition. Bytes that arrive meanwhile
//     are HELD, not dropped: each direction holds at most one chunk (32KB)
//     in the proxy and the rest stays in kernel socket buffers, so senders
//     eventually block, as with a real partition. Closes that happen during
//     the blackhole are not propagated either. New connections are accepted
//     but the target is not dialed until Restore.
//   - Restore: held bytes, then held closes, are delivered in order, as when
//     a partition heals and TCP retransmits. A peer that gave up meanwhile
//     (for example a NATS client after missed PINGs) has already closed its
//     own side; that close then reaches the other side.
//   - SetLatency: each chunk is delayed by d before it is written, per
//     direction and in order (a chunk is not read until the previous one
//     was written, so latency also lowers throughput).
//   - CloseAll: a hard cut; both sockets of every current connection are
//     closed at once. The proxy keeps listening.
//
// When either side of a forwarded connection ends (EOF or error), both
// sockets are closed: half-closed connections are not supported.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup
	closed chan struct{}

	mu      sync.Mutex
	conns   map[*proxyConn]struct{}
	resume  chan struct{} // nil when forwarding; closed by Restore
	latency time.Duration
	isDone  bool
}

// proxyConn is one forwarded connection: the accepted socket and the one
// dialed to the target.
type proxyConn struct {
	client net.Conn
	mu     sync.Mutex
	server net.Conn
	done   chan struct{}
	once   sync.Once
}

func (pc *proxyConn) close() {
	pc.once.Do(func() {
		close(pc.done)
		pc.client.Close()
		pc.mu.Lock()
		if pc.server != nil {
			pc.server.Close()
		}
		pc.mu.Unlock()
	})
}

// StartProxy listens on 127.0.0.1:0 and forwards connections to target
// (host:port). It calls t.Fatal if it cannot listen. The target does not
// need to be up yet: a connection that cannot dial it within 2s is closed.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
	}
	p := &Proxy{
		target: target,
		ln:     ln,
		closed: make(chan struct{}),
		conns:  map[*proxyConn]struct{}{},
	}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's host:port on 127.0.0.1, to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns scheme://127.0.0.1:PORT for the proxy, e.g. URL("nats").
func (p *Proxy) URL(scheme string) string {
	return scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.ln.Addr().(*net.TCPAddr).Port))
}

// Blackhole stops forwarding in both directions without closing anything;
// see Proxy for exactly what is held. Calling it twice is harmless.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
}

// Restore resumes forwarding after Blackhole, delivering held bytes first.
// Calling it without Blackhole is harmless.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume != nil {
		close(p.resume)
		p.resume = nil
	}
}

// SetLatency delays every forwarded chunk by d, in both directions, for
// current and new connections. Zero (the default) turns it off.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// CloseAll closes both sockets of every current connection (a hard cut).
// The proxy keeps accepting new connections.
func (p *Proxy) CloseAll() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		pc.close()
	}
}

// close stops the listener and all connections and waits for every goroutine.
func (p *Proxy) close() {
	p.mu.Lock()
	if p.isDone {
		p.mu.Unlock()
		return
	}
	p.isDone = true
	close(p.closed)
	p.mu.Unlock()
	p.ln.Close()
	p.CloseAll()
	p.wg.Wait()
}

// gate waits until forwarding is allowed; it returns false if pc or the
// proxy was closed meanwhile.
func (p *Proxy) gate(pc *proxyConn) (latency time.Duration, ok bool) {
	for {
		p.mu.Lock()
		resume, latency := p.resume, p.latency
		p.mu.Unlock()
		if resume == nil {
			return latency, true
		}
		select {
		case <-resume:
		case <-pc.done:
			return 0, false
		case <-p.closed:
			return 0, false
		}
	}
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-p.closed:
				return
			case <-time.After(10 * time.Millisecond): // e.g. EMFILE: back off
			}
			continue
		}
		pc := &proxyConn{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.isDone {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[pc] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(pc)
	}
}

// serve dials the target once forwarding is allowed and pipes both ways.
func (p *Proxy) serve(pc *proxyConn) {
	defer p.wg.Done()
	defer func() {
		pc.close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	if _, ok := p.gate(pc); !ok {
		return
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	s, err := d.Dial("tcp", p.target)
	if err != nil {
		return
	}
	pc.mu.Lock()
	select {
	case <-pc.done: // closed while dialing
		pc.mu.Unlock()
		s.Close()
		return
	default:
	}
	pc.server = s
	pc.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(pc, s, pc.client) }()
	go func() { defer wg.Done(); p.pipe(pc, pc.client, s) }()
	wg.Wait()
}

// pipe copies src to dst chunk by chunk through the gate; when src ends
// (after the gate, so held closes wait for Restore) it closes the connection.
func (p *Proxy) pipe(pc *proxyConn, dst, src net.Conn) {
	defer pc.close()
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		latency, ok := p.gate(pc)
		if !ok {
			return
		}
		if n > 0 {
			if latency > 0 {
				timer := time.NewTimer(latency)
				select {
				case <-timer.C:
				case <-pc.done:
					timer.Stop()
					return
				}
				// Blackhole may have started during the delay.
				if _, ok := p.gate(pc); !ok {
					return
				}
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if rerr != nil {
			return
		}
	}
}
