package testenv

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a loopback TCP proxy in front of a target address, for fault injection. Dial Addr
// instead of the target.
type Proxy struct {
	target string
	ln     net.Listener

	mu        sync.Mutex
	blackhole bool
	latency   time.Duration
	closed    bool
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// StartProxy listens on 127.0.0.1 on a free port and forwards every connection to target. It is
// closed, with all its connections and goroutines, when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns scheme://host:port for the proxy, e.g. URL("nats").
func (p *Proxy) URL(scheme string) string { return fmt.Sprintf("%s://%s", scheme, p.Addr()) }

// Blackhole stops forwarding bytes in both directions without closing any connection: both ends
// see a silent, half-open link. New connections are accepted and get nothing. Bytes read while
// blackholed are dropped, as a partitioned network would.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.blackhole = true
	p.mu.Unlock()
}

// Restore resumes forwarding. Bytes that arrived while blackholed stay lost, so the protocols on
// top usually find their streams corrupt and reconnect; that is the fault being simulated.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.blackhole = false
	p.mu.Unlock()
}

// SetLatency delays every forwarded chunk by d in both directions. Zero removes the delay.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// CloseAll closes every current connection (a hard cut) and keeps listening for new ones.
func (p *Proxy) CloseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.CloseAll()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst until either fails, honouring blackhole and latency; then it closes both.
func (p *Proxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		src.Close()
		dst.Close()
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop, delay, closed := p.blackhole, p.latency, p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if !drop {
				if delay > 0 {
					time.Sleep(delay)
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
