// Command revocast is the one binary of revocast: the dev all-in-one, the issuer, the demo
// microservice, and tools to revoke and watch. It is the only place that reads flags and the
// environment; every flag --name can also be set as REVOCAST_NAME (dashes become underscores).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// quietRedis discards go-redis's internal log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func main() {
	redis.SetLogger(quietRedis{}) // go-redis logs dial failures on its own; we report errors ourselves
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0 on success, 2 on any error
// (printed as one line that says what to do).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx = context.WithValue(ctx, stdinKey{}, stdin)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "revocast: unknown command %q: run 'revocast --help' for the list\n", args[0])
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return 0 // interrupted: a graceful shutdown is a success
	}
	fmt.Fprintf(stderr, "revocast %s: %s\n", c.name, oneLine(err))
	var ec *exitError
	if errors.As(err, &ec) {
		return ec.code
	}
	return 2
}

// exitError is an error with its own exit code (such as 1 for "the check ran and found a
// problem", against 2 for "could not run").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// stdinKey carries the command's standard input in its context (tests run commands concurrently,
// each with its own).
type stdinKey struct{}

// stdinOf returns the standard input run was given.
func stdinOf(ctx context.Context) io.Reader {
	if r, ok := ctx.Value(stdinKey{}).(io.Reader); ok {
		return r
	}
	return os.Stdin
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "revocast: real logout for stateless JWTs across microservices.")
	fmt.Fprintln(w, "\nUsage: revocast <command> [flags]   (every --flag is also REVOCAST_<FLAG> in the environment)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'revocast <command> --help' for its flags.")
}

// oneLine flattens an error message onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// newFlagSet returns a flag set for a command that prints its usage to w.
func newFlagSet(name, summary string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "revocast %s: %s\n\nFlags (each also REVOCAST_<NAME>):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command line from the environment
// variable REVOCAST_<NAME> (upper case, '-' as '_'), so flags win over the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("invalid value for %s: %v", env, e)
			}
		}
	})
	return err
}

// envName returns the environment variable for a flag: "refresh-grace" → "REVOCAST_REFRESH_GRACE".
func envName(flagName string) string {
	return "REVOCAST_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func init() {
	register(command{name: "version", summary: "print the version", run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlagSet("version", "print the version", stderr)
		if err := parseFlags(fs, args, os.Getenv); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revocast", version)
		return nil
	}})
}
