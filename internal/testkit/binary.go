package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var bin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Main runs a package's tests and then removes the lattice binary that
// Binary built, if any: call it from TestMain in a package that uses
// Binary, as `func TestMain(m *testing.M) { testkit.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// Binary builds cmd/lattice, once per test binary, and returns its path.
// The build runs on the first test that needs it, so that running only a
// package's unit tests does not pay for it.
func Binary(t testing.TB) string {
	t.Helper()
	bin.once.Do(func() {
		dir, err := os.MkdirTemp("", "lattice-bin-")
		if err != nil {
			bin.err = fmt.Errorf("making the binary's directory: %w", err)
			return
		}
		bin.dir = dir
		path := filepath.Join(dir, "lattice")
		start := time.Now()
		// The package path builds from any directory in the module.
		out, err := exec.Command("go", "build", "-o", path, "github.com/lattice-sync/lattice/cmd/lattice").CombinedOutput()
		if err != nil {
			bin.err = fmt.Errorf("go build ./cmd/lattice: %w\n%s", err, out)
			return
		}
		bin.path = path
		t.Logf("built %s in %v", path, time.Since(start).Round(time.Millisecond))
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}
