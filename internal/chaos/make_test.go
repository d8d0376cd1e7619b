package chaos

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeTargetsReachThisPackage runs the go test command lines of `make chaos` and `make soak`
// with -list added, so that a recipe that no longer reaches this package's tests (go test hands
// everything from the first flag it does not know to the test binary, so a custom flag before
// the package path leaves no package at all) fails here rather than the day someone runs it.
func TestMakeTargetsReachThisPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package again")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"chaos", "soak"} {
		out, err := exec.Command("make", "-C", root, "-n", "-s", target).Output()
		if err != nil {
			t.Fatalf("make -n %s: %v", target, err)
		}
		var lines []string
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "go test ") {
				lines = append(lines, strings.TrimSpace(line))
			}
		}
		if len(lines) != 1 {
			t.Fatalf("make -n %s: want one go test line, got %q", target, lines)
		}
		cmd := exec.Command("sh", "-c", lines[0]+" -list .")
		cmd.Dir = root
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s (make %s) with -list: %v\n%s", lines[0], target, err, got)
		}
		for _, test := range []string{"TestSoak", "TestNATSDown", "TestHalfOpenSubscriber"} {
			if !strings.Contains(string(got), test) {
				t.Errorf("make %s: %s is not among the tests it runs:\n%s", target, test, got)
			}
		}
	}
}
