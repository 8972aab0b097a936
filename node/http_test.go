package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/transport"
)

// httpFixture is a real node behind a real HTTP server.
type httpFixture struct {
	t   *testing.T
	n   *Node
	srv *httptest.Server
}

func newHTTPFixture(t *testing.T, opts HTTPOptions) *httpFixture {
	t.Helper()
	n, err := Open(testConfig(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	srv := httptest.NewServer(NewHTTPHandler(n, opts))
	t.Cleanup(srv.Close)
	return &httpFixture{t: t, n: n, srv: srv}
}

// do sends a request and returns the status and the decoded JSON body.
func (f *httpFixture) do(method, path, body string) (int, map[string]any, http.Header) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if method == http.MethodPost || method == http.MethodPut {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		f.t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m, resp.Header
}

// want checks a success response and returns its body.
func (f *httpFixture) want(status int, method, path, body string) map[string]any {
	f.t.Helper()
	got, m, _ := f.do(method, path, body)
	if got != status {
		f.t.Fatalf("%s %s %s: status %d, want %d: %v", method, path, body, got, status, m)
	}
	return m
}

// errCode returns the error code of a response body, or "".
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (f *httpFixture) digest() string {
	f.t.Helper()
	d, _, err := f.n.Digest()
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func jsonEq(t *testing.T, got any, want string) {
	t.Helper()
	g, _ := json.Marshal(got)
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	wb, _ := json.Marshal(w)
	if !bytes.Equal(g, wb) {
		t.Fatalf("got %s, want %s", g, wb)
	}
}

func TestHTTPObjects(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{})
	steps := []struct {
		method, path, body string
		want               string
	}{
		{"POST", "/v1/objects/board/42/likes", `{"type":"counter","op":"inc","by":5}`,
			`{"key":"board/42/likes","type":"counter","value":5}`},
		{"POST", "/v1/objects/board/42/likes", `{"type":"counter","op":"dec","by":2}`,
			`{"key":"board/42/likes","type":"counter","value":3}`},
		{"POST", "/v1/objects/board/42/likes", `{"type":"counter","op":"inc"}`,
			`{"key":"board/42/likes","type":"counter","value":4}`},
		{"GET", "/v1/objects/board/42/likes", ``,
			`{"key":"board/42/likes","type":"counter","value":4}`},
		{"POST", "/v1/objects/board/42/tags", `{"type":"set","op":"add","value":"urgent"}`,
			`{"key":"board/42/tags","type":"set","value":["urgent"]}`},
		{"POST", "/v1/objects/board/42/tags", `{"type":"set","op":"add","value":7}`,
			`{"key":"board/42/tags","type":"set","value":["urgent",7]}`}, // canonical order
		{"POST", "/v1/objects/board/42/tags", `{"type":"set","op":"remove","value":"urgent"}`,
			`{"key":"board/42/tags","type":"set","value":[7]}`},
		{"POST", "/v1/objects/board/42/title", `{"type":"lww","op":"set","value":"Plan"}`,
			`{"key":"board/42/title","type":"lww","value":"Plan"}`},
		{"POST", "/v1/objects/board/42/card/1", `{"type":"lww","op":"set","path":["title"],"value":"Buy milk"}`,
			`{"key":"board/42/card/1","type":"map","value":{"title":"Buy milk"}}`},
		{"POST", "/v1/objects/board/42/card/1", `{"type":"counter","op":"inc","path":["meta","votes"],"by":2}`,
			`{"key":"board/42/card/1","type":"map","value":{"title":"Buy milk","meta":{"votes":2}}}`},
		{"POST", "/v1/objects/board/42/card/1", `{"type":"map","op":"delete","path":["title"]}`,
			`{"key":"board/42/card/1","type":"map","value":{"meta":{"votes":2}}}`},
		{"POST", "/v1/objects/board/42/done", `{"type":"flag","op":"enable"}`,
			`{"key":"board/42/done","type":"flag","value":true}`},
		{"GET", "/v1/objects/board/42/card/1", ``,
			`{"key":"board/42/card/1","type":"map","value":{"meta":{"votes":2}}}`},
		{"POST", "/v1/objects/board/42/note", `{"type":"text","op":"insert","index":0,"value":"héllo"}`,
			`{"key":"board/42/note","type":"text","value":"héllo"}`},
		{"POST", "/v1/objects/board/42/note", `{"type":"text","op":"insert","index":5,"value":" 😀!"}`,
			`{"key":"board/42/note","type":"text","value":"héllo 😀!"}`},
		{"POST", "/v1/objects/board/42/note", `{"type":"text","op":"delete","index":6,"count":1}`,
			`{"key":"board/42/note","type":"text","value":"héllo !"}`},
		{"POST", "/v1/objects/board/42/card/1", `{"type":"text","op":"insert","path":["text"],"index":0,"value":"Buy"}`,
			`{"key":"board/42/card/1","type":"map","value":{"meta":{"votes":2},"text":"Buy"}}`},
		{"GET", "/v1/objects/a%2Fb%20c", ``, // escaped in the URL, plain in the key
			`{"error":{"code":"not_found","message":"object \"a/b c\" has never been written"}}`},
	}
	for _, s := range steps {
		status := http.StatusOK
		if strings.Contains(s.want, "not_found") {
			status = http.StatusNotFound
		}
		jsonEq(t, f.want(status, s.method, s.path, s.body), s.want)
	}
	// The answer came after Apply returned, so the write is in the store.
	o, err := f.n.Get("board/42/likes")
	if err != nil || o.Value() != int64(4) {
		t.Fatalf("stored counter %v, %v", o.Value(), err)
	}
}

func TestHTTPBadRequestsChangeNothing(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{MaxBodyBytes: 1024})
	f.want(200, "POST", "/v1/objects/c", `{"type":"counter","op":"inc"}`)
	f.want(200, "POST", "/v1/objects/s", `{"type":"set","op":"add","value":1}`)
	long := strings.Repeat("k", MaxKeyLen+1)
	deep := `["` + strings.Repeat(`a","`, crdt.MaxDepth) + `a"]`
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", "/v1/objects/c", `{"type":"counter",`, 400, "malformed_json"},
		{"empty body", "POST", "/v1/objects/c", ``, 400, "malformed_json"},
		{"not an object", "POST", "/v1/objects/c", `[1]`, 400, "malformed_json"},
		{"null body", "POST", "/v1/objects/c", ` null`, 400, "malformed_json"},
		{"trailing garbage", "POST", "/v1/objects/c", `{"type":"counter","op":"inc"} x`, 400, "malformed_json"},
		{"second value", "POST", "/v1/objects/c", `{"type":"counter","op":"inc"}{}`, 400, "malformed_json"},
		{"unknown type", "POST", "/v1/objects/c", `{"type":"bag","op":"add","value":1}`, 400, "unknown_type"},
		{"missing type", "POST", "/v1/objects/c", `{"op":"inc"}`, 400, "unknown_type"},
		{"type not a string", "POST", "/v1/objects/c", `{"type":2,"op":"inc"}`, 400, "unknown_type"},
		{"unknown op", "POST", "/v1/objects/c", `{"type":"counter","op":"frobnicate"}`, 400, "unknown_op"},
		{"missing op", "POST", "/v1/objects/c", `{"type":"counter"}`, 400, "unknown_op"},
		{"op the type lacks", "POST", "/v1/objects/s", `{"type":"set","op":"inc"}`, 400, "invalid_op"},
		{"dec on a gcounter", "POST", "/v1/objects/g", `{"type":"gcounter","op":"dec"}`, 400, "invalid_op"},
		{"delete without path", "POST", "/v1/objects/m", `{"type":"map","op":"delete"}`, 400, "invalid_op"},
		{"missing value", "POST", "/v1/objects/s", `{"type":"set","op":"add"}`, 400, "invalid_value"},
		{"non-scalar value", "POST", "/v1/objects/s", `{"type":"set","op":"add","value":[1]}`, 400, "invalid_value"},
		{"by beyond 2^53", "POST", "/v1/objects/c", `{"type":"counter","op":"inc","by":9007199254740992}`, 400, "invalid_value"},
		{"fractional by", "POST", "/v1/objects/c", `{"type":"counter","op":"inc","by":1.5}`, 400, "invalid_value"},
		{"path too deep", "POST", "/v1/objects/m", `{"type":"counter","op":"inc","path":` + deep + `}`, 400, "invalid_value"},
		{"inc on a set", "POST", "/v1/objects/s", `{"type":"counter","op":"inc"}`, 409, "wrong_type"},
		{"set add on a counter", "POST", "/v1/objects/c", `{"type":"set","op":"add","value":1}`, 409, "wrong_type"},
		{"map field on a counter", "POST", "/v1/objects/c", `{"type":"lww","op":"set","path":["x"],"value":1}`, 409, "wrong_type"},
		{"unknown field", "POST", "/v1/objects/c", `{"type":"counter","op":"inc","byy":2}`, 400, "unknown_field"},
		{"value on inc", "POST", "/v1/objects/c", `{"type":"counter","op":"inc","value":5}`, 400, "unknown_field"},
		{"by on add", "POST", "/v1/objects/s", `{"type":"set","op":"add","value":2,"by":2}`, 400, "unknown_field"},
		{"index on a counter", "POST", "/v1/objects/c", `{"type":"counter","op":"inc","index":2}`, 400, "unknown_field"},
		{"count on a text insert", "POST", "/v1/objects/t", `{"type":"text","op":"insert","index":0,"value":"x","count":2}`, 400, "unknown_field"},
		{"text insert without index", "POST", "/v1/objects/t", `{"type":"text","op":"insert","value":"x"}`, 400, "invalid_value"},
		{"text insert past the end", "POST", "/v1/objects/t", `{"type":"text","op":"insert","index":1,"value":"x"}`, 400, "invalid_value"},
		{"empty text insert", "POST", "/v1/objects/t", `{"type":"text","op":"insert","index":0,"value":""}`, 400, "invalid_value"},
		{"fractional index", "POST", "/v1/objects/t", `{"type":"text","op":"insert","index":0.5,"value":"x"}`, 400, "invalid_value"},
		{"text delete past the end", "POST", "/v1/objects/t", `{"type":"text","op":"delete","index":0,"count":1}`, 400, "invalid_value"},
		{"text insert on a counter", "POST", "/v1/objects/c", `{"type":"text","op":"insert","index":0,"value":"x"}`, 409, "wrong_type"},
		{"oversized body", "POST", "/v1/objects/s", `{"type":"set","op":"add","value":"` + strings.Repeat("x", 2000) + `"}`, 413, "body_too_large"},
		{"empty key", "POST", "/v1/objects/", `{"type":"counter","op":"inc"}`, 400, "invalid_key"},
		{"long key", "POST", "/v1/objects/" + long, `{"type":"counter","op":"inc"}`, 400, "invalid_key"},
		{"non-UTF-8 key", "POST", "/v1/objects/%FF", `{"type":"counter","op":"inc"}`, 400, "invalid_key"},
		{"get empty key", "GET", "/v1/objects/", ``, 400, "invalid_key"},
		{"wrong method on object", "DELETE", "/v1/objects/c", ``, 405, "method_not_allowed"},
		{"wrong method on digest", "POST", "/v1/digest", `{}`, 405, "method_not_allowed"},
		{"wrong method on admin", "GET", "/v1/admin/heal", ``, 405, "method_not_allowed"},
		{"unknown route", "GET", "/v2/objects/c", ``, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			before := f.digest()
			status, m, h := f.do(c.method, c.path, c.body)
			if status != c.status || errCode(m) != c.code {
				t.Fatalf("status %d code %q, want %d %q: %v", status, errCode(m), c.status, c.code, m)
			}
			if msg, _ := m["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("no message: %v", m)
			}
			if c.status == 405 && h.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
			if after := f.digest(); after != before {
				t.Fatalf("digest changed: %s -> %s", before, after)
			}
		})
	}
}

func TestHTTPDigestClusterHealth(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{})
	f.want(200, "POST", "/v1/objects/c", `{"type":"counter","op":"inc"}`)
	d := f.want(200, "GET", "/v1/digest", "")
	want, count, _ := f.n.Digest()
	vv := d["vv"].(map[string]any)
	if d["digest"] != want || d["objects"] != float64(count) || vv[f.n.ID().String()] != float64(1) {
		t.Fatalf("digest %v, want %s %d", d, want, count)
	}
	c := f.want(200, "GET", "/v1/cluster", "")
	if c["name"] != "h1" || c["id"] != f.n.ID().String() {
		t.Fatalf("cluster %v", c)
	}
	jsonEq(t, f.want(200, "GET", "/healthz", ""), `{"status":"ok"}`)
	jsonEq(t, f.want(200, "GET", "/readyz", ""), `{"status":"ok"}`)

	f.n.Close()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/readyz", ""},
		{"GET", "/v1/objects/c", ""},
		{"POST", "/v1/objects/c", `{"type":"counter","op":"inc"}`},
		{"GET", "/v1/digest", ""},
	} {
		if status, m, _ := f.do(r.method, r.path, r.body); status != 503 || errCode(m) != "unavailable" {
			t.Fatalf("%s %s after Close: %d %v", r.method, r.path, status, m)
		}
	}
	jsonEq(t, f.want(200, "GET", "/healthz", ""), `{"status":"ok"}`)
}

func TestHTTPAdmin(t *testing.T) {
	off := newHTTPFixture(t, HTTPOptions{})
	noFaults := newHTTPFixture(t, HTTPOptions{Admin: true})
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/admin/faults", ""},
		{"PUT", "/v1/admin/faults", `{"drop":1}`},
		{"POST", "/v1/admin/heal", ""},
	} {
		if status, m, _ := off.do(r.method, r.path, r.body); status != 403 || errCode(m) != "admin_disabled" {
			t.Fatalf("admin off: %s %s: %d %v", r.method, r.path, status, m)
		}
		if status, m, _ := noFaults.do(r.method, r.path, r.body); status != 501 || errCode(m) != "not_implemented" {
			t.Fatalf("no faults: %s %s: %d %v", r.method, r.path, status, m)
		}
	}
	if status, m, _ := off.do("POST", "/v1/admin/fold", `{"key":"c","replica":"`+writerID(1).String()+`"}`); status != 403 || errCode(m) != "admin_disabled" {
		t.Fatalf("admin off: fold: %d %v", status, m)
	}

	net := transport.NewMemNetwork()
	faulty := transport.NewFaulty(net.Add("h1"), 1)
	t.Cleanup(func() { faulty.Close() })
	for _, name := range []string{"n2", "n3"} { // the peers the cuts name: a cut of an unknown node is refused
		peer, err := Open(testConfig(t, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { peer.Close() })
		if err := peer.Attach(net.Add(name)); err != nil {
			t.Fatal(err)
		}
	}
	f := newHTTPFixture(t, HTTPOptions{Admin: true, Faults: faulty})
	if err := f.n.Attach(faulty); err != nil {
		t.Fatal(err)
	}
	zero := `{"drop":0,"duplicate":0,"reorder":0,"delay":0,"jitter":0,"cut":[]}`
	got := f.want(200, "GET", "/v1/admin/faults", "")
	jsonEq(t, got["faults"], zero)
	if _, ok := got["stats"].(map[string]any)["sent"]; !ok {
		t.Fatalf("no stats: %v", got)
	}
	got = f.want(200, "PUT", "/v1/admin/faults", `{"drop":0.5,"delay":20000000,"cut":["n3","n2","n2"]}`)
	set := `{"drop":0.5,"duplicate":0,"reorder":0,"delay":20000000,"jitter":0,"cut":["n2","n3"]}`
	jsonEq(t, got["faults"], set)
	if fs := faulty.Faults(); fs.Drop != 0.5 || len(fs.Cut) != 2 {
		t.Fatalf("faulty has %+v", fs)
	}
	for _, c := range []struct{ body, code string }{
		{`{"drop":2,"delay":-1}`, "invalid_faults"},
		{`{"cut":[""]}`, "invalid_faults"},
		{`{"dorp":1}`, "unknown_field"},
		{`{"drop":"all"}`, "invalid_value"},
		{`{"drop":1`, "malformed_json"},
		{`{"drop":1} {}`, "malformed_json"},
		{`null`, "malformed_json"}, // not a heal in disguise
	} {
		if status, m, _ := f.do("PUT", "/v1/admin/faults", c.body); status != 400 || errCode(m) != c.code {
			t.Fatalf("PUT %s: %d %v, want 400 %s", c.body, status, m, c.code)
		}
	}
	jsonEq(t, f.want(200, "GET", "/v1/admin/faults", "")["faults"], set) // refused PUTs changed nothing
	jsonEq(t, f.want(200, "POST", "/v1/admin/heal", "")["faults"], zero)
	if fs := faulty.Faults(); fs.Drop != 0 || len(fs.Cut) != 0 {
		t.Fatalf("faulty after heal has %+v", fs)
	}
}

func TestHTTPMetrics(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{})
	f.want(200, "POST", "/v1/objects/c", `{"type":"counter","op":"inc"}`)
	f.do("POST", "/v1/objects/c", `{"type":"set","op":"add","value":1}`)
	// A second handler on the same node shares the HTTP collectors.
	h2 := NewHTTPHandler(f.n, HTTPOptions{})
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`lattice_operations_total{op="inc",type="counter"} 1`,
		`lattice_http_requests_total{code="200",route="POST /v1/objects/{key...}"} 1`,
		`lattice_http_requests_total{code="409",route="POST /v1/objects/{key...}"} 1`,
		`lattice_http_request_duration_seconds_count{route="POST /v1/objects/{key...}"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHTTPRequestIDAndLog(t *testing.T) {
	var logs bytes.Buffer
	n, err := Open(testConfig(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	// ServeHTTP directly: the log line is written after the response, so
	// only a synchronous call can read it without racing.
	h := NewHTTPHandler(n, HTTPOptions{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got != "abc-123" {
		t.Fatalf("echoed id %q", got)
	}
	if !strings.Contains(logs.String(), `"request_id":"abc-123"`) || !strings.Contains(logs.String(), `"route":"GET /healthz"`) {
		t.Fatalf("log lacks the request: %s", logs.String())
	}
	for _, bad := range []string{"", "has space", strings.Repeat("x", 200)} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header.Set("X-Request-Id", bad)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if id := rec.Header().Get("X-Request-Id"); len(id) != 36 {
			t.Fatalf("for %q, generated id %q", bad, id)
		}
	}
}

// TestHTTPContentType: a POST or PUT whose body is not declared JSON is
// refused with 415, so a cross-origin form or text/plain POST (which a
// browser sends without a preflight) cannot write (CSRF).
func TestHTTPContentType(t *testing.T) {
	faulty := transport.NewFaulty(transport.NewMemNetwork().Add("h1"), 1)
	t.Cleanup(func() { faulty.Close() })
	f := newHTTPFixture(t, HTTPOptions{Admin: true, Faults: faulty})
	for _, tc := range []struct{ method, path, ctype, body string }{
		{"POST", "/v1/objects/c", "text/plain", `{"type":"counter","op":"inc"}`},
		{"POST", "/v1/objects/c", "application/x-www-form-urlencoded", `{"type":"counter","op":"inc"}`},
		{"POST", "/v1/objects/c", "multipart/form-data; boundary=x", `{"type":"counter","op":"inc"}`},
		{"POST", "/v1/objects/c", "", `{"type":"counter","op":"inc"}`},
		{"PUT", "/v1/admin/faults", "text/plain", `{"drop":1}`},
		{"POST", "/v1/admin/heal", "text/plain", ``},
	} {
		before := f.digest()
		req, err := http.NewRequest(tc.method, f.srv.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		req.Header.Set("Origin", "http://evil.example")
		status, m := doReq(t, req)
		if status != http.StatusUnsupportedMediaType || errCode(m) != protocol.UnsupportedMedia {
			t.Errorf("%s %s as %q: %d %v, want 415 %s", tc.method, tc.path, tc.ctype, status, m, protocol.UnsupportedMedia)
		}
		if f.digest() != before || faulty.Faults().Drop != 0 {
			t.Errorf("%s %s as %q changed something", tc.method, tc.path, tc.ctype)
		}
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/objects/c", strings.NewReader(`{"type":"counter","op":"inc"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if status, m := doReq(t, req); status != 200 {
		t.Errorf("application/json; charset=utf-8: %d %v", status, m)
	}
}

// TestHTTPFold: POST /v1/admin/fold on a node alone (its own decider).
func TestHTTPFold(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{Admin: true})
	if status, m, _ := f.do("POST", "/v1/admin/fold", `{"key":"c","replica":"`+writerID(1).String()+`"}`); status != 503 || errCode(m) != "fold_not_stable" {
		t.Fatalf("fold on a node not attached: %d %v", status, m)
	}
	if err := f.n.Attach(transport.NewMemNetwork().Add("h1")); err != nil {
		t.Fatal(err)
	}
	w := writerID(1)
	d, err := crdt.NewObject().Apply(w, crdt.Timestamp{Wall: time.Now().UnixMilli()}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.n.JoinClient(context.Background(), w, "c", d); err != nil {
		t.Fatal(err)
	}
	body := `{"key":"c","replica":"` + w.String() + `"}`
	jsonEq(t, f.want(200, "POST", "/v1/admin/fold", body),
		`{"key":"c","replica":"`+w.String()+`","fold":"`+crdt.FoldReplica(f.n.ID()).String()+`"}`)
	if got := wsCounter(t, f.n, "c"); got != 3 {
		t.Fatalf("after the fold %d, want 3", got)
	}
	for _, c := range []struct{ body, code string }{
		{body, "invalid_op"}, // already folded
		{`{"key":"c","replica":"` + writerID(2).String() + `"}`, "invalid_op"},
		{`{"key":"never","replica":"` + w.String() + `"}`, "invalid_op"},
		{`{"key":"c","replica":"nope"}`, "invalid_value"},
		{`{"key":"","replica":"` + w.String() + `"}`, "invalid_key"},
		{`{"key":"c","replica":"` + w.String() + `","x":1}`, "unknown_field"},
	} {
		if status, m, _ := f.do("POST", "/v1/admin/fold", c.body); status != 400 || errCode(m) != c.code {
			t.Fatalf("fold %s: %d %v, want 400 %s", c.body, status, m, c.code)
		}
	}
}
