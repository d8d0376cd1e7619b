package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// connectNATS connects to the NATS servers in url (comma-separated) with reconnects that never
// give up. An unreachable server is an error that names the flag to fix.
func connectNATS(ctx context.Context, url, name string, auth *natsAuth) (*nats.Conn, error) {
	opts, err := auth.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(3 * time.Second),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %v (start NATS or set --nats / REVOCAST_NATS)", url, err)
	}
	if err := ctx.Err(); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// connectRedis parses a redis:// URL and checks the server answers. An unreachable server is an
// error that names the flag to fix.
func connectRedis(ctx context.Context, url string, rt *redisTLS) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("invalid --redis URL: %v (want redis://[user:password@]host:port/db, or rediss:// for TLS)", err)
	}
	if err := rt.apply(opts); err != nil {
		return nil, err
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %v (start Redis or set --redis / REVOCAST_REDIS)", opts.Addr, err)
	}
	return c, nil
}

// serviceFlags are the connection flags of the long-running commands.
type serviceFlags struct {
	http, nats, redis, storePrefix, logLevel string
	logFormat                                string
	natsAuth                                 natsAuth
	redisTLS                                 redisTLS
}

// redisTLS are the Redis TLS flags (used with a rediss:// URL).
type redisTLS struct {
	ca, cert, key string
}

func (r *redisTLS) register(fs *flag.FlagSet) {
	fs.StringVar(&r.ca, "redis-ca", "", "CA certificate file to verify Redis (with a rediss:// URL)")
	fs.StringVar(&r.cert, "redis-cert", "", "client certificate file for Redis TLS (with --redis-key)")
	fs.StringVar(&r.key, "redis-key", "", "client key file for Redis TLS (with --redis-cert)")
}

// apply adds the CA and client certificate to opts; a rediss:// URL already turned TLS on.
func (r *redisTLS) apply(opts *redis.Options) error {
	if r == nil || (r.ca == "" && r.cert == "") {
		return nil
	}
	if opts.TLSConfig == nil {
		return errors.New("--redis-ca/--redis-cert need a rediss:// URL")
	}
	if r.ca != "" {
		pem, err := os.ReadFile(r.ca)
		if err != nil {
			return fmt.Errorf("--redis-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--redis-ca %s: no certificate", r.ca)
		}
		opts.TLSConfig.RootCAs = pool
	}
	if (r.cert == "") != (r.key == "") {
		return errors.New("--redis-cert and --redis-key go together")
	}
	if r.cert != "" {
		c, err := tls.LoadX509KeyPair(r.cert, r.key)
		if err != nil {
			return fmt.Errorf("--redis-cert: %v", err)
		}
		opts.TLSConfig.Certificates = []tls.Certificate{c}
	}
	return nil
}

func (f *serviceFlags) register(fs *flag.FlagSet, defaultHTTP, redisUse string) {
	addrVar(fs, &f.http, "http", defaultHTTP, "HTTP listen address")
	fs.StringVar(&f.nats, "nats", nats.DefaultURL, "NATS URL (comma-separated for a cluster)")
	fs.StringVar(&f.redis, "redis", "redis://127.0.0.1:6379/0", "Redis URL of "+redisUse)
	fs.StringVar(&f.storePrefix, "store-prefix", "revocast", "key prefix in Redis")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json (one object per line) or text")
	f.natsAuth.register(fs)
	f.redisTLS.register(fs)
}

// connections are a service's logger, Redis client and NATS connection.
type connections struct {
	logger *slog.Logger
	redis  *redis.Client
	nats   *nats.Conn
}

// connect builds the logger and connects to Redis and NATS; close releases them.
func (f *serviceFlags) connect(ctx context.Context, stderr io.Writer, name string) (*connections, error) {
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return nil, err
	}
	rc, err := connectRedis(ctx, f.redis, &f.redisTLS)
	if err != nil {
		return nil, err
	}
	nc, err := connectNATS(ctx, f.nats, name, &f.natsAuth)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &connections{logger: logger, redis: rc, nats: nc}, nil
}

func (c *connections) close() {
	c.nats.Close()
	c.redis.Close()
}
