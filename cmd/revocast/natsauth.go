package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// natsAuth are the NATS credential and TLS flags every connecting command takes. Secrets are read
// from files (--nats-creds, --nats-nkey) or the environment (REVOCAST_NATS_PASSWORD,
// REVOCAST_NATS_TOKEN), so they need not appear on a command line visible in ps.
type natsAuth struct {
	user, password, token, nkeySeed, creds string
	ca, cert, key                          string
}

func (a *natsAuth) register(fs *flag.FlagSet) {
	fs.StringVar(&a.user, "nats-user", "", "NATS user (password from REVOCAST_NATS_PASSWORD)")
	fs.StringVar(&a.password, "nats-password", "", "NATS password (prefer the environment: REVOCAST_NATS_PASSWORD)")
	fs.StringVar(&a.token, "nats-token", "", "NATS token (prefer the environment: REVOCAST_NATS_TOKEN)")
	fs.StringVar(&a.nkeySeed, "nats-nkey", "", "file holding an NKey seed to authenticate with")
	fs.StringVar(&a.creds, "nats-creds", "", "NATS credentials file (user JWT and seed)")
	fs.StringVar(&a.ca, "nats-ca", "", "CA certificate file to verify the NATS server (turns TLS on)")
	fs.StringVar(&a.cert, "nats-cert", "", "client certificate file for NATS TLS (with --nats-key)")
	fs.StringVar(&a.key, "nats-key", "", "client key file for NATS TLS (with --nats-cert)")
}

// options returns the nats.go options for the flags.
func (a *natsAuth) options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.user != "":
		opts = append(opts, nats.UserInfo(a.user, a.password))
	case a.password != "":
		return nil, errors.New("--nats-password without --nats-user")
	}
	if a.token != "" {
		opts = append(opts, nats.Token(a.token))
	}
	if a.nkeySeed != "" {
		o, err := nats.NkeyOptionFromSeed(a.nkeySeed)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %v", err)
		}
		opts = append(opts, o)
	}
	if a.creds != "" {
		if _, err := os.Stat(a.creds); err != nil {
			return nil, fmt.Errorf("--nats-creds: %v", err)
		}
		opts = append(opts, nats.UserCredentials(a.creds))
	}
	if a.ca != "" {
		opts = append(opts, nats.RootCAs(a.ca))
	}
	if (a.cert == "") != (a.key == "") {
		return nil, errors.New("--nats-cert and --nats-key go together")
	}
	if a.cert != "" {
		opts = append(opts, nats.ClientCert(a.cert, a.key))
	}
	return opts, nil
}
