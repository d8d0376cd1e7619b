package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/revocast/revocast/internal/benchrun"
)

func init() {
	register(command{name: "bench", summary: "run every benchmark beside its baseline and write BENCHMARKS.md and plots (needs the source tree and Go)", run: runBench})
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const summary = "run every benchmark beside its baseline (go test -bench in the source tree) and write the generated section of BENCHMARKS.md and SVG plots; about 10 minutes (-quick: 2, -full adds 5M entries: 20)"
	fs := newFlagSet("bench", summary, stderr)
	quick := fs.Bool("quick", false, "small sizes and short runs")
	full := fs.Bool("full", false, "also 5M live revocations (needs ~4 GiB for Redis)")
	dir := fs.String("dir", ".", "the revocast source tree")
	out := fs.String("out", "BENCHMARKS.md", "the markdown file to write the results into (its generated section)")
	plots := fs.String("plots", filepath.Join("docs", "bench"), "where to write the SVG plots")
	from := fs.String("from", "", "render from this saved 'go test -bench' output instead of running the benchmarks")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	mod, err := os.ReadFile(filepath.Join(*dir, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module github.com/revocast/revocast\n") {
		return fmt.Errorf("%s is not the revocast source tree: run 'revocast bench' from a clone (or set --dir)", *dir)
	}
	started := time.Now()
	var (
		results []benchrun.Result
		cmds    []string
	)
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		results = benchrun.Parse(strings.NewReader(string(b)))
		for _, l := range strings.Split(string(b), "\n") {
			if c, ok := strings.CutPrefix(l, "$ "); ok { // the command lines revocast bench logs
				cmds = append(cmds, c)
			}
		}
	} else if results, cmds, err = benchrun.Run(ctx, benchrun.Options{Quick: *quick, Full: *full, Dir: *dir, Log: stderr}); err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results")
	}
	path := *out
	if !filepath.IsAbs(path) {
		path = filepath.Join(*dir, path)
	}
	plotDir := *plots
	if !filepath.IsAbs(plotDir) {
		plotDir = filepath.Join(*dir, plotDir)
	}
	took := time.Since(started)
	if *from != "" {
		took = 0 // unknown
		if fi, err := os.Stat(*from); err == nil {
			started = fi.ModTime()
		}
	}
	if err := benchrun.Write(results, cmds, path, plotDir, started, took); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d results written to %s, plots in %s\n", len(results), path, plotDir)
	return nil
}
