package crdt_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure holds crdt/ to its promise: no network, disk, clock, randomness
// or goroutines in the package itself (time and randomness come in as
// arguments). It reads the package's own source, so adding such an import
// or a go statement fails here, not in review.
func TestPure(t *testing.T) {
	forbidden := map[string]bool{
		"net": true, "net/http": true, "os": true, "os/exec": true, "io/fs": true,
		"io/ioutil": true, "syscall": true, "time": true, "math/rand": true,
		"math/rand/v2": true, "crypto/rand": true, "sync": true, "log": true,
		"log/slog": true, "runtime": true, "unsafe": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[path] {
				t.Errorf("%s imports %q: crdt/ must stay pure (no I/O, clock, randomness or concurrency)", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement at %s: crdt/ starts no goroutines", name, fset.Position(g.Pos()))
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked only %d files; is the test running in crdt/?", checked)
	}
}
