package benchrun

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

type report struct{ results []Result }

// get returns a metric of the named benchmark, and whether it ran.
func (r report) get(name, unit string) (float64, bool) {
	for _, res := range r.results {
		if res.Name == name {
			v, ok := res.Metrics[unit]
			return v, ok
		}
	}
	return 0, false
}

// sizes returns the N of every "<prefix>/<key>=N/..." benchmark, sorted.
func (r report) sizes(prefix, key string) []int {
	seen := map[int]bool{}
	for _, res := range r.results {
		rest, ok := strings.CutPrefix(res.Name, prefix+"/"+key+"=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.SplitN(rest, "/", 2)[0])
		if err == nil {
			seen[n] = true
		}
	}
	var out []int
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func cell(v float64, ok bool, format string) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func ns(v float64, ok bool) string {
	switch {
	case !ok:
		return "–"
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.1f ns", v)
}

type plot struct {
	file  string
	chart Chart
}

func (r report) series(name string, xs []int, f func(x int) (float64, bool)) Series {
	s := Series{Name: name}
	for _, x := range xs {
		if v, ok := f(x); ok {
			s.Points = append(s.Points, [2]float64{float64(x), v})
		}
	}
	return s
}

func (r report) plots() []plot {
	var out []plot
	if xs := r.sizes("BenchmarkCheckScaling", "entries"); len(xs) > 0 {
		m := func(variant string) func(int) (float64, bool) {
			return func(x int) (float64, bool) {
				return r.get(fmt.Sprintf("BenchmarkCheckScaling/entries=%d/%s", x, variant), "ns/op")
			}
		}
		out = append(out, plot{"check.svg", Chart{Title: "Revocation check: ns per request vs live revocations", XLabel: "live revocations", YLabel: "ns/op", LogX: true,
			Series: []Series{r.series("revocast Check", xs, m("revocast")), r.series("Go map (3 lookups)", xs, m("map")),
				r.series("revocast, parallel", xs, m("revocast-parallel")), r.series("Go map, parallel", xs, m("map-parallel"))}}})
	}
	if xs := r.sizes("BenchmarkPropagation", "subscribers"); len(xs) > 0 {
		m := func(variant, unit string) func(int) (float64, bool) {
			return func(x int) (float64, bool) {
				return r.get(fmt.Sprintf("BenchmarkPropagation/subscribers=%d/%s", x, variant), unit)
			}
		}
		out = append(out, plot{"propagation.svg", Chart{Title: "Propagation: logout returned → applied (µs)", XLabel: "subscribers", YLabel: "µs", LogX: true, LogY: true,
			Series: []Series{r.series("revocast p99 (all)", xs, m("subscriber", "all-p99-µs")), r.series("raw NATS p99 (all)", xs, m("raw", "all-p99-µs")),
				r.series("revocast p50", xs, m("subscriber", "p50-µs")), r.series("raw NATS p50", xs, m("raw", "p50-µs"))}}})
	}
	if xs := r.sizes("BenchmarkColdStartScaling", "entries"); len(xs) > 0 {
		m := func(variant, unit string) func(int) (float64, bool) {
			return func(x int) (float64, bool) {
				return r.get(fmt.Sprintf("BenchmarkColdStartScaling/entries=%d/%s", x, variant), unit)
			}
		}
		out = append(out,
			plot{"coldstart.svg", Chart{Title: "Cold start: seconds to ready vs live revocations", XLabel: "live revocations", YLabel: "seconds", LogX: true, LogY: true,
				Series: []Series{r.series("revocast subscriber", xs, m("revocast", "s/start")), r.series("Go map from the snapshot", xs, m("map", "s/start")),
					r.series("store snapshot alone (read + decode)", xs, m("raw", "s/start"))}}},
			plot{"memory.svg", Chart{Title: "Heap bytes per live revocation", XLabel: "live revocations", YLabel: "bytes/entry", LogX: true,
				Series: []Series{r.series("revocast subscriber", xs, m("revocast", "heap-B/entry")), r.series("map[string]int64", xs, m("map", "heap-B/entry"))}}})
	}
	return out
}

// markdown renders the generated section.
func (r report) markdown(machine string, cmds, plots []string, started time.Time, took time.Duration) string {
	var b strings.Builder
	tookText := ""
	if took > 0 {
		tookText = " Took " + took.Round(time.Second).String() + "."
	}
	fmt.Fprintf(&b, "## Latest run\n\n%s, on %s (every figure beside its baseline in the same run).%s Produced by `go run ./cmd/revocast bench` (`make bench`), which ran:\n\n```\n%s\n```\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), machine, tookText, strings.Join(cmds, "\n"))
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n", strings.TrimSuffix(p[strings.LastIndex(p, "/")+1:], ".svg"), p)
	}
	b.WriteString("\n### Per-request cost\n\n| what | serial | parallel (RunParallel) | allocs/op |\n|---|---|---|---|\n")
	row := func(what, serial, parallel string) {
		s, sok := r.get(serial, "ns/op")
		p, pok := r.get(parallel, "ns/op")
		a, aok := r.get(serial, "allocs/op")
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", what, ns(s, sok), ns(p, pok), cell(a, aok, "%.0f"))
	}
	row("revocast Check, 1M live, 1M distinct tokens (`BenchmarkCheck`)", "BenchmarkCheck/serial", "BenchmarkCheck/parallel")
	row("… the benchmark's own floor: reading the claims only", "BenchmarkCheck/serial-read-claims-only", "")
	row("… cache-resident tokens (4,096-token ring)", "BenchmarkCheck/serial-small-ring", "")
	for _, n := range r.sizes("BenchmarkCheckScaling", "entries") {
		row(fmt.Sprintf("revocast Check, %s live", num(float64(n))), fmt.Sprintf("BenchmarkCheckScaling/entries=%d/revocast", n), fmt.Sprintf("BenchmarkCheckScaling/entries=%d/revocast-parallel", n))
		row(fmt.Sprintf("floor: Go map, same 3 lookups, %s entries", num(float64(n))), fmt.Sprintf("BenchmarkCheckScaling/entries=%d/map", n), fmt.Sprintf("BenchmarkCheckScaling/entries=%d/map-parallel", n))
	}
	row("middleware, verified-token cache hit", "BenchmarkMiddleware/cached", "BenchmarkMiddleware/cached-parallel")
	row("middleware, signature checked", "BenchmarkMiddleware/uncached", "BenchmarkMiddleware/uncached-parallel")
	row("baseline: golang-jwt parse+verify alone", "BenchmarkMiddleware/raw-golang-jwt", "")
	row("alternative: golang-jwt + one Redis EXISTS", "BenchmarkMiddleware/raw-golang-jwt+redis-exists", "")
	row("alternative (a): one Redis EXISTS per request", "BenchmarkCheckRemote/redis-exists", "BenchmarkCheckRemote/redis-exists-parallel")
	row("alternative (b): introspection HTTP call answering from Redis", "BenchmarkCheckRemote/introspection-http", "BenchmarkCheckRemote/introspection-http-parallel")

	if xs := r.sizes("BenchmarkPropagation", "subscribers"); len(xs) > 0 {
		b.WriteString("\n### Propagation: `Revoke` returned → applied by the subscribers\n\n| subscribers | revocast p50 | p99 | every subscriber p99 | raw NATS p50 | p99 | every receiver p99 | p99 ratio |\n|---|---|---|---|---|---|---|---|\n")
		for _, n := range xs {
			g := func(v, u string) (float64, bool) {
				return r.get(fmt.Sprintf("BenchmarkPropagation/subscribers=%d/%s", n, v), u)
			}
			s50, ok1 := g("subscriber", "p50-µs")
			s99, ok2 := g("subscriber", "p99-µs")
			sa, ok3 := g("subscriber", "all-p99-µs")
			r50, ok4 := g("raw", "p50-µs")
			r99, ok5 := g("raw", "p99-µs")
			ra, ok6 := g("raw", "all-p99-µs")
			ratio := "–"
			if ok3 && ok6 && ra > 0 {
				ratio = fmt.Sprintf("%.2f×", sa/ra)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", n, cell(s50, ok1, "%.0f µs"), cell(s99, ok2, "%.0f µs"), cell(sa, ok3, "%.0f µs"),
				cell(r50, ok4, "%.0f µs"), cell(r99, ok5, "%.0f µs"), cell(ra, ok6, "%.0f µs"), ratio)
		}
	}
	if xs := r.sizes("BenchmarkColdStartScaling", "entries"); len(xs) > 0 {
		b.WriteString("\n### Cold start and memory\n\n| live revocations | revocast to ready | heap/entry | store snapshot alone (read + decode) | ratio | Go map from the snapshot | map heap/entry |\n|---|---|---|---|---|---|---|\n")
		for _, n := range xs {
			g := func(v, u string) (float64, bool) {
				return r.get(fmt.Sprintf("BenchmarkColdStartScaling/entries=%d/%s", n, v), u)
			}
			rs, ok1 := g("revocast", "s/start")
			rh, ok2 := g("revocast", "heap-B/entry")
			raw, ok3 := g("raw", "s/start")
			ms, ok4 := g("map", "s/start")
			mh, ok5 := g("map", "heap-B/entry")
			ratio := "–"
			if ok1 && ok3 && raw > 0 {
				ratio = fmt.Sprintf("%.2f×", rs/raw)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", num(float64(n)), cell(rs, ok1, "%.3f s"), cell(rh, ok2, "%.0f B"), cell(raw, ok3, "%.3f s"), ratio, cell(ms, ok4, "%.3f s"), cell(mh, ok5, "%.0f B"))
		}
	}
	b.WriteString("\n### Write side\n\n| what | figure |\n|---|---|\n")
	wr := func(what, name, unit, format string) {
		v, ok := r.get(name, unit)
		if unit == "ns/op" && ok {
			fmt.Fprintf(&b, "| %s | %s (%.0f/s) |\n", what, ns(v, ok), 1e9/v)
			return
		}
		fmt.Fprintf(&b, "| %s | %s |\n", what, cell(v, ok, format))
	}
	wr("Revoke, one at a time (append + publish)", "BenchmarkRevoke/revoker", "ns/op", "")
	wr("baseline: the store append alone", "BenchmarkRevoke/baseline=store-append", "ns/op", "")
	wr("baseline: a NATS publish alone", "BenchmarkRevoke/baseline=nats-publish", "ns/op", "")
	wr("RevokeBatch, revocations/s", "BenchmarkRevokeBatch/revoker", "revocations/s", "%.0f /s")
	wr("baseline: batched store appends alone, revocations/s", "BenchmarkRevokeBatch/baseline=store-append", "revocations/s", "%.0f /s")
	wr("issuer baseline: a plain JSON handler, req/s", "BenchmarkBaseline", "req/s", "%.0f /s")
	wr("login (argon2id m=64 KiB t=1), req/s", "BenchmarkLogin", "req/s", "%.0f /s")
	wr("refresh (rotation), req/s", "BenchmarkRefresh", "req/s", "%.0f /s")
	wr("logout (revoke + publish), req/s", "BenchmarkLogout", "req/s", "%.0f /s")

	b.WriteString("\n### Targets\n\n| target | measured | |\n|---|---|---|\n")
	target := func(what string, v float64, ok bool, show string, met bool) {
		verdict := "met"
		if !ok {
			verdict, show = "not run", "–"
		} else if !met {
			verdict = "**not met**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", what, show, verdict)
	}
	cs, ok := r.get("BenchmarkCheck/serial", "ns/op")
	target("Check ≤ 50 ns, serial, 1M live, 1M distinct tokens", cs, ok, ns(cs, ok), cs <= 50)
	cp, ok := r.get("BenchmarkCheck/parallel", "ns/op")
	target("Check ≤ 50 ns, RunParallel", cp, ok, ns(cp, ok), cp <= 50)
	ca, ok := r.get("BenchmarkCheck/serial", "allocs/op")
	target("Check 0 allocs", ca, ok, cell(ca, ok, "%.0f"), ca == 0)
	mc, ok := r.get("BenchmarkMiddleware/cached", "ns/op")
	target("cached middleware ≤ 2 µs", mc, ok, ns(mc, ok), mc <= 2000)
	if xs := r.sizes("BenchmarkPropagation", "subscribers"); len(xs) > 0 {
		for _, n := range xs {
			sa, ok1 := r.get(fmt.Sprintf("BenchmarkPropagation/subscribers=%d/subscriber", n), "all-p99-µs")
			ra, ok2 := r.get(fmt.Sprintf("BenchmarkPropagation/subscribers=%d/raw", n), "all-p99-µs")
			target(fmt.Sprintf("propagation p99 ≤ 1.5× raw NATS fan-out, %d subscribers", n), sa, ok1 && ok2 && ra > 0,
				fmt.Sprintf("%.0f µs vs %.0f µs (%.2f×)", sa, ra, sa/max(ra, 1)), sa <= 1.5*ra)
		}
	}
	c1, ok1 := r.get("BenchmarkColdStartScaling/entries=1000000/revocast", "s/start")
	target("1M cold start ≤ 1 s", c1, ok1, cell(c1, ok1, "%.3f s"), c1 <= 1)
	h1, ok2 := r.get("BenchmarkColdStartScaling/entries=1000000/revocast", "heap-B/entry")
	target("1M live ≤ 64 B/entry", h1, ok2, cell(h1, ok2, "%.0f B"), h1 <= 64)
	bt, ok := r.get("BenchmarkRevokeBatch/revoker", "revocations/s")
	target("≥ 50k revocations/s batched", bt, ok, cell(bt, ok, "%.0f /s"), bt >= 50_000)
	b.WriteString("\n")
	return b.String()
}
