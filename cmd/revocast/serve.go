package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// addrVar defines a listen-address flag that also takes a bare port: "9090" keeps the host of the
// default (127.0.0.1 in dev, all interfaces for the services), so --http 9090 does what it says.
func addrVar(fs *flag.FlagSet, p *string, name, def, usage string) {
	*p = def
	host, _, _ := net.SplitHostPort(def)
	fs.Func(name, usage+" (`host:port`, or a port; default "+def+")", func(v string) error {
		if n, err := strconv.Atoi(v); err == nil {
			if n < 0 || n > 65535 {
				return fmt.Errorf("port %d is out of range", n)
			}
			v = net.JoinHostPort(host, v)
		}
		*p = v
		return nil
	})
}

// httpServer is an HTTP server listening on an address; it stops when its context ends.
type httpServer struct {
	name string
	addr string // the address actually bound (":0" resolved)
	srv  *http.Server
	done chan error
}

// listenAndServe binds addr synchronously, so a taken port is an error here, then serves h until
// ctx ends, when it stops accepting and waits up to 10s for in-flight requests.
func listenAndServe(ctx context.Context, name, addr, flagName string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s cannot listen on %s: %v (choose another address with --%s)", name, addr, errors.Unwrap(err), flagName)
	}
	s := &httpServer{
		name: name,
		addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
	}()
	return s, nil
}

// wait blocks until the server has stopped and returns why.
func (s *httpServer) wait() error { return <-s.done }

// url returns http://addr with a wildcard host replaced by 127.0.0.1.
func (s *httpServer) url() string {
	host, port, _ := net.SplitHostPort(s.addr)
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
