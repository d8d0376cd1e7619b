// Package benchrun runs revocast's benchmarks, each beside its baseline in the same run, and
// writes the results: a generated section of BENCHMARKS.md (machine, command line, tables, targets
// met or not) and SVG plots. `revocast bench` and `make bench` call it.
package benchrun

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Spec is one `go test -bench` invocation.
type Spec struct {
	Package, Pattern, BenchTime string
}

// Options select what to run.
type Options struct {
	Quick bool   // small sizes (-short), short bench times: minutes instead of a quarter hour
	Full  bool   // adds 5M entries (REVOCAST_BENCH_FULL=1)
	Dir   string // the repository root (holds go.mod)
	Log   io.Writer
	Specs []Spec // nil: DefaultSpecs
}

// DefaultSpecs are every benchmark the report uses.
func DefaultSpecs(quick bool) []Spec {
	t, cold := "1s", "3x"
	if quick {
		t, cold = "200ms", "1x"
	}
	return []Spec{
		{"./subscriber", "^(BenchmarkCheck|BenchmarkCheckScaling|BenchmarkCheckRemote|BenchmarkMiddleware)$", t},
		{"./subscriber", "^BenchmarkPropagation$", map[bool]string{true: "200x", false: "2000x"}[quick]},
		{"./subscriber", "^BenchmarkColdStartScaling$", cold},
		{"./revoker", "^(BenchmarkRevoke|BenchmarkRevokeBatch)$", t},
		{"./issuer", "^(BenchmarkBaseline|BenchmarkLogin|BenchmarkRefresh|BenchmarkLogout)$", t},
	}
}

// Result is one benchmark line.
type Result struct {
	Name    string             // without the -GOMAXPROCS suffix
	N       int                // iterations
	Metrics map[string]float64 // unit → value: ns/op, B/op, allocs/op, p99-µs, ...
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output.
func Parse(r io.Reader) []Result {
	var out []Result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		res := Result{Name: procSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res.Metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out
}

// Run runs the specs with `go test` in o.Dir and returns every result and the command lines.
func Run(ctx context.Context, o Options) ([]Result, []string, error) {
	specs := o.Specs
	if specs == nil {
		specs = DefaultSpecs(o.Quick)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	var (
		all  []Result
		cmds []string
	)
	for _, s := range specs {
		args := []string{"test", "-run", "^$", "-bench", s.Pattern, "-benchmem", "-benchtime", s.BenchTime, "-count", "1", "-timeout", "60m"}
		if o.Quick {
			args = append(args, "-short")
		}
		args = append(args, s.Package)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = o.Dir
		cmd.Env = os.Environ()
		if o.Full {
			cmd.Env = append(cmd.Env, "REVOCAST_BENCH_FULL=1")
		}
		line := "go " + strings.Join(args, " ")
		cmds = append(cmds, line)
		fmt.Fprintln(o.Log, "$", line)
		var buf bytes.Buffer
		cmd.Stdout = io.MultiWriter(&buf, o.Log)
		cmd.Stderr = o.Log
		if err := cmd.Run(); err != nil {
			return all, cmds, fmt.Errorf("%s: %w", line, err)
		}
		all = append(all, Parse(&buf)...)
	}
	return all, cmds, nil
}

// Machine describes the machine the benchmarks ran on.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", kb/(1<<20))
		}
	}
	redis := "redis-server"
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		redis = strings.TrimSpace(string(out))
		if i := strings.Index(redis, " sha="); i > 0 {
			redis = redis[:i]
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s, %s, %s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), redis)
}

// Write renders results into BENCHMARKS.md (between the generated-section markers, which it adds
// after the title when missing) and the plots into plotDir, named relative to the markdown file.
func Write(results []Result, cmds []string, mdPath, plotDir string, started time.Time, took time.Duration) error {
	r := report{results: results}
	plots := r.plots()
	if err := os.MkdirAll(plotDir, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(mdPath), plotDir)
	if err != nil {
		rel = plotDir
	}
	var names []string
	for _, p := range plots {
		if err := os.WriteFile(filepath.Join(plotDir, p.file), []byte(p.chart.SVG()), 0o644); err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(filepath.Join(rel, p.file)))
	}
	section := r.markdown(Machine(), cmds, names, started, took)
	old, err := os.ReadFile(mdPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(mdPath, []byte(splice(string(old), section)), 0o644)
}

const (
	beginMarker = "<!-- revocast bench: generated section, rewritten by `revocast bench` -->"
	endMarker   = "<!-- revocast bench: end of generated section -->"
)

// splice replaces the generated section of doc, or inserts it after the first heading.
func splice(doc, section string) string {
	section = beginMarker + "\n" + section + endMarker + "\n"
	if i := strings.Index(doc, beginMarker); i >= 0 {
		if j := strings.Index(doc, endMarker); j > i {
			return doc[:i] + section + doc[j+len(endMarker)+1:]
		}
	}
	if doc == "" {
		return "# Benchmarks\n\n" + section
	}
	if nl := strings.Index(doc, "\n"); strings.HasPrefix(doc, "# ") && nl > 0 {
		return doc[:nl+1] + "\n" + section + doc[nl+1:]
	}
	return section + "\n" + doc
}
