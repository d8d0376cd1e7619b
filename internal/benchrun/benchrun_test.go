package benchrun

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sample = `goos: linux
BenchmarkCheck/serial-2         	17094868	        69.84 ns/op	         0.2000 revoked/op	       0 B/op	       0 allocs/op
BenchmarkCheck/parallel-2       	35886632	        33.10 ns/op	       0 B/op	       0 allocs/op
BenchmarkMiddleware/cached-2    	 3000000	       360.0 ns/op	     368 B/op	       2 allocs/op
BenchmarkCheckScaling/entries=10000/revocast-2 	 1000	 30.0 ns/op
BenchmarkCheckScaling/entries=10000/map-2 	 1000	 60.0 ns/op
BenchmarkCheckScaling/entries=1000000/revocast-2 	 1000	 70.0 ns/op
BenchmarkCheckScaling/entries=1000000/map-2 	 1000	 150.0 ns/op
BenchmarkPropagation/subscribers=1/raw-2 	 50	 33.00 all-p50-µs	 177.0 all-p99-µs	 33.00 p50-µs	 177.0 p99-µs
BenchmarkPropagation/subscribers=1/subscriber-2 	 50	 96.00 all-p50-µs	 321.0 all-p99-µs	 96.00 p50-µs	 321.0 p99-µs
BenchmarkColdStartScaling/entries=1000000/raw-2 	 1	 0.35 s/start
BenchmarkColdStartScaling/entries=1000000/revocast-2 	 1	 38.0 heap-B/entry	 0.79 s/start
BenchmarkRevokeBatch/revoker-2 	 10	 115000 revocations/s
PASS
`

func TestParseAndReport(t *testing.T) {
	res := Parse(strings.NewReader(sample))
	if len(res) != 12 || res[0].Name != "BenchmarkCheck/serial" || res[0].Metrics["ns/op"] != 69.84 || res[0].Metrics["revoked/op"] != 0.2 {
		t.Fatalf("parsed %+v", res)
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	if err := os.WriteFile(md, []byte("# Benchmarks\n\nhand-written notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second write replaces the generated section
		if err := Write(res, []string{"go test -bench ."}, md, filepath.Join(dir, "docs", "bench"), time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(md)
	doc := string(b)
	for _, want := range []string{"hand-written notes", "69.8 ns", "| Check ≤ 50 ns, serial, 1M live, 1M distinct tokens | 69.8 ns | **not met** |",
		"| Check ≤ 50 ns, RunParallel | 33.1 ns | met |", "propagation p99 ≤ 1.5× raw NATS fan-out, 1 subscribers | 321 µs vs 177 µs (1.81×) | **not met**",
		"| 1M | 0.790 s | 38 B | 0.350 s | 2.26× |", "![check](docs/bench/check.svg)", "go test -bench ."} {
		if !strings.Contains(doc, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, doc)
		}
	}
	if strings.Count(doc, beginMarker) != 1 {
		t.Fatalf("%d generated sections", strings.Count(doc, beginMarker))
	}
	for _, f := range []string{"check.svg", "propagation.svg", "coldstart.svg", "memory.svg"} {
		svg, err := os.ReadFile(filepath.Join(dir, "docs", "bench", f))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			XMLName xml.Name
		}
		if err := xml.Unmarshal(svg, &v); err != nil || v.XMLName.Local != "svg" || !strings.Contains(string(svg), "<polyline") {
			t.Fatalf("%s is not an SVG chart: %v", f, err)
		}
	}
}

// TestHarnessSmoke runs the harness for real on one cheap benchmark: go test is found and run,
// its output parsed.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	res, cmds, err := Run(context.Background(), Options{Quick: true, Dir: "../..", Specs: []Spec{{"./events", "^BenchmarkDecode$", "100x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 1 || len(res) != 1 || res[0].Name != "BenchmarkDecode" || res[0].N != 100 || res[0].Metrics["ns/op"] <= 0 {
		t.Fatalf("results %+v, commands %v", res, cmds)
	}
	if m := Machine(); !strings.Contains(m, "cores") {
		t.Fatalf("machine %q", m)
	}
}
