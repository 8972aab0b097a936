package node

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/transport"
)

// docs/api.md's claims, checked against the code: the error codes, the
// routes, the fields of /v1/cluster and the metrics.

func readAPIDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// codeConstants are the values of the package's code* string constants:
// every error code the HTTP API can answer.
func codeConstants(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("http*.go")
	var codes []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Values) != len(vs.Names) {
				return true
			}
			for i, id := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if strings.HasPrefix(id.Name, "code") && ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					codes = append(codes, v)
				}
			}
			return true
		})
	}
	sort.Strings(codes)
	return codes
}

func TestAPIDocErrorCodes(t *testing.T) {
	doc := readAPIDoc(t)
	table := doc[strings.Index(doc, "## Error codes"):]
	table = table[:strings.Index(table, "\n## ")]
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) \\|").FindAllStringSubmatch(table, -1) {
		documented = append(documented, m[1])
	}
	sort.Strings(documented)
	if code := codeConstants(t); !slices.Equal(code, documented) {
		t.Fatalf("error codes in the code:\n  %v\nin docs/api.md's table:\n  %v", code, documented)
	}
}

func TestAPIDocRoutes(t *testing.T) {
	doc := readAPIDoc(t)
	src, err := os.ReadFile("http.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`handle\(http\.Method(\w+), "([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in http.go", len(routes))
	}
	for _, m := range routes {
		route := strings.ToUpper(m[1]) + " " + strings.ReplaceAll(m[2], "{key...}", "{key}")
		if !strings.Contains(doc, route) {
			t.Errorf("docs/api.md never names %s", route)
		}
	}
}

// fieldPaths lists the object keys of a JSON value, as paths; list
// elements count as their first element's.
func fieldPaths(prefix string, v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := prefix + "." + k
			if strings.HasSuffix(prefix, ".vv") {
				p = prefix + ".*" // a version vector's keys are replica ids
			}
			into[p] = true
			fieldPaths(p, e, into)
		}
	case []any:
		if len(x) > 0 {
			fieldPaths(prefix+"[]", x[0], into)
		}
	}
}

func TestAPIDocClusterExample(t *testing.T) {
	doc := readAPIDoc(t)
	m := regexp.MustCompile("GET /v1/cluster\n200 (.*)\n").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no GET /v1/cluster example")
	}
	var example any
	if err := json.Unmarshal([]byte(m[1]), &example); err != nil {
		t.Fatalf("the /v1/cluster example is not JSON: %v", err)
	}
	net := transport.NewMemNetwork()
	var nodes []*Node
	for _, name := range []string{"node1", "node2"} {
		cfg := testConfig(t, name)
		cfg.ClusterID = "demo-test"
		cfg.AdvertiseHTTP = "http://127.0.0.1:1"
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		tr := net.Add(name)
		tr.SetMeta(cfg.AdvertiseHTTP)
		if err := n.Attach(tr); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	// A write makes the vectors non-empty.
	if _, err := nodes[0].Apply(context.Background(), "c", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1}); err != nil {
		t.Fatal(err)
	}
	var real any
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rec := httptest.NewRecorder()
		NewHTTPHandler(nodes[0], HTTPOptions{}).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/cluster", nil))
		real = nil
		if err := json.Unmarshal(rec.Body.Bytes(), &real); err != nil {
			t.Fatal(err)
		}
		ci := nodes[0].Cluster()
		if len(ci.Members) == 1 && ci.Members[0].VV != nil && len(ci.Members[0].VV) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node2 never reported its vector to node1: %s", rec.Body)
		}
	}
	want, got := map[string]bool{}, map[string]bool{}
	fieldPaths("", real, want)
	fieldPaths("", example, got)
	for p := range want {
		if !got[p] {
			t.Errorf("docs/api.md's /v1/cluster example lacks %s, which a node answers", p)
		}
	}
	want[".members[].addr"] = true // the gossip address: memberlist has one, the in-memory network not
	for p := range got {
		if !want[p] {
			t.Errorf("docs/api.md's /v1/cluster example has %s, which no node answers", p)
		}
	}
}

func TestAPIDocMetrics(t *testing.T) {
	doc := readAPIDoc(t)
	n, err := Open(testConfig(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	h := NewHTTPHandler(n, HTTPOptions{})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	var src strings.Builder
	for _, pattern := range []string{"*.go", "../transport/*.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				b, _ := os.ReadFile(f)
				src.Write(b)
			}
		}
	}
	names := regexp.MustCompile("`(lattice_[a-z_]+)`").FindAllStringSubmatch(doc, -1)
	for _, m := range names {
		if !strings.Contains(src.String(), `"`+m[1]+`"`) {
			t.Errorf("docs/api.md names metric %s, which no collector has", m[1])
		}
	}
	// The label sets the doc says are there from the start.
	for _, endpoint := range []string{"http", "ws"} {
		for _, reason := range []string{"missing", "invalid", "expired", "forbidden", "replica"} {
			want := `lattice_auth_failures_total{endpoint="` + endpoint + `",reason="` + reason + `"} 0`
			if !strings.Contains(metrics, want) {
				t.Errorf("a fresh node's /metrics lacks %s", want)
			}
		}
	}
	for _, limit := range []string{"frame_size", "subscriptions", "rate", "connections", "origin", "body_size"} {
		if want := `lattice_limit_hits_total{limit="` + limit + `"} 0`; !strings.Contains(metrics, want) {
			t.Errorf("a fresh node's /metrics lacks %s", want)
		}
	}
	for _, op := range []string{"counter inc", "counter dec", "gcounter inc", "set add", "set remove", "lww set", "mvreg set", "flag enable", "flag disable", "map delete"} {
		typ, kind, _ := strings.Cut(op, " ")
		if want := `lattice_operations_total{op="` + kind + `",type="` + typ + `"} 0`; !strings.Contains(metrics, want) {
			t.Errorf("a fresh node's /metrics lacks %s", want)
		}
	}
	for _, typ := range []string{"hello", "sub", "unsub", "delta", "ping", "unknown"} {
		if want := `lattice_ws_messages_total{dir="in",type="` + typ + `"} 0`; !strings.Contains(metrics, want) {
			t.Errorf("a fresh node's /metrics lacks %s", want)
		}
	}
}
