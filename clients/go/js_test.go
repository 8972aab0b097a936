package lattice

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// jsView is what the JavaScript client (clients/js/lattice.js) sees under
// a prefix through one node: key -> canonical JSON state. It runs
// testdata/jsclient.mjs with Node; without Node the test is skipped, or
// fails under CI=true.
func jsView(t *testing.T, url, prefix string) map[string]string {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node (Node.js 20+) is needed to compare with the JavaScript client: %v", err)
		}
		t.Skipf("skipping the JavaScript client comparison: node (Node.js 20+) not found: %v", err)
	}
	lib, err := filepath.Abs(filepath.Join("..", "js", "lattice.js"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(nodeBin, "--experimental-websocket", filepath.Join("testdata", "jsclient.mjs"), lib, url, prefix)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("the JavaScript client failed: %v\nstderr:\n%s", err, errOut.String())
	}
	var got map[string]struct {
		Canonical string          `json:"canonical"`
		Value     json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("the JavaScript client printed %q: %v\nstderr:\n%s", out.String(), err, errOut.String())
	}
	view := map[string]string{}
	for k, v := range got {
		view[k] = v.Canonical
	}
	t.Logf("the JavaScript client read %d keys through %s in %v", len(view), url, time.Since(start).Round(time.Millisecond))
	return view
}
