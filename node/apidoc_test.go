package node

import (
	"context"
	"encoding/json"
	"maps"
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
	"github.com/lattice-sync/lattice/internal/protocol"
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

// docTable reads the rows of the markdown table under heading in doc whose
// first cell is a code in backquotes, with the second cell.
func docTable(t *testing.T, doc, heading string) map[string]string {
	t.Helper()
	i := strings.Index(doc, heading+"\n")
	if i < 0 {
		t.Fatalf("no %q section", heading)
	}
	table := doc[i+len(heading):]
	if j := strings.Index(table, "\n## "); j >= 0 {
		table = table[:j]
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\| ([^|]*)\\|").FindAllStringSubmatch(table, -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	return rows
}

// The HTTP error codes of internal/protocol, with their statuses, are
// docs/api.md's table, no more and no less.
func TestAPIDocErrorCodes(t *testing.T) {
	documented := docTable(t, readAPIDoc(t), "## Error codes")
	want := map[string]string{}
	for _, c := range protocol.Codes() {
		if c.HTTP != 0 {
			want[c.Code] = strconv.Itoa(c.HTTP)
		}
	}
	if !maps.Equal(want, documented) {
		t.Fatalf("HTTP error codes in internal/protocol:\n  %v\nin docs/api.md's table:\n  %v", want, documented)
	}
}

// The WebSocket error and close codes of internal/protocol are
// docs/protocol.md's tables.
func TestProtocolDocCodes(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var want, got []string
	for _, c := range protocol.Codes() {
		if c.WS {
			want = append(want, c.Code)
		}
	}
	for code := range docTable(t, doc, "## Errors") {
		got = append(got, code)
	}
	sort.Strings(got)
	if !slices.Equal(want, got) {
		t.Errorf("WebSocket error codes in internal/protocol:\n  %v\nin docs/protocol.md's table:\n  %v", want, got)
	}
	section := doc[strings.Index(doc, "## Close codes\n"):]
	closes := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| (\\d{4}) \\| (.*) \\|$").FindAllStringSubmatch(section, -1) {
		closes[m[1]] = m[2]
	}
	for _, c := range protocol.CloseCodes() {
		row, ok := closes[strconv.Itoa(c)]
		reason, _ := protocol.CloseReason(c)
		if !ok || (c >= 4000 && !strings.Contains(row, "`"+reason+"`")) {
			t.Errorf("close code %d (%s) is not in docs/protocol.md's close codes as such: %q", c, reason, row)
		}
	}
}

func TestAPIDocRoutes(t *testing.T) {
	doc := readAPIDoc(t)
	src, err := os.ReadFile("api/http.go")
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
		// Judge the answer itself, not a second read: node2's report may
		// arrive between the two.
		if ms, _ := real.(map[string]any)["members"].([]any); len(ms) == 1 {
			if m, _ := ms[0].(map[string]any); m != nil {
				if vv, _ := m["vv"].(map[string]any); len(vv) > 0 {
					break
				}
			}
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
	for _, pattern := range []string{"*.go", "*/*.go", "../transport/*.go"} {
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
