package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/node/api"
	"github.com/lattice-sync/lattice/transport"
)

func TestHTTPListObjects(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{})
	for _, k := range []string{"board/a", "board/b", "board/c", "boardroom", "other/x"} {
		f.want(200, "POST", "/v1/objects/"+k, `{"type":"counter","op":"inc"}`)
	}
	f.want(200, "POST", "/v1/objects/board/s", `{"type":"set","op":"add","value":1}`)
	jsonEq(t, f.want(200, "GET", "/v1/objects?prefix=board/", ""),
		`{"objects":[{"key":"board/a","type":"counter"},{"key":"board/b","type":"counter"},{"key":"board/c","type":"counter"},{"key":"board/s","type":"set"}]}`)
	// Paging: next is the after of the following page, until none is left.
	jsonEq(t, f.want(200, "GET", "/v1/objects?prefix=board/&limit=2", ""),
		`{"objects":[{"key":"board/a","type":"counter"},{"key":"board/b","type":"counter"}],"next":"board/b"}`)
	jsonEq(t, f.want(200, "GET", "/v1/objects?prefix=board/&limit=2&after=board/b", ""),
		`{"objects":[{"key":"board/c","type":"counter"},{"key":"board/s","type":"set"}]}`)
	jsonEq(t, f.want(200, "GET", "/v1/objects?prefix=nothing/", ""), `{"objects":[]}`)
	if all := f.want(200, "GET", "/v1/objects", "")["objects"].([]any); len(all) != 6 {
		t.Fatalf("listing everything: %v", all)
	}
	before := f.digest()
	for _, c := range []struct{ path, code string }{
		{"/v1/objects?limit=0", "invalid_query"},
		{"/v1/objects?limit=1001", "invalid_query"},
		{"/v1/objects?limit=ten", "invalid_query"},
		{"/v1/objects?prefx=board/", "invalid_query"},
		{"/v1/objects?prefix=a&prefix=b", "invalid_query"},
		{"/v1/objects?prefix=%zz", "invalid_query"},
		{"/v1/objects/board/a?x=1", "invalid_query"},
		{"/v1/objects/board/a?", "invalid_query"},
	} {
		if status, m, _ := f.do("GET", c.path, ""); status != 400 || errCode(m) != c.code {
			t.Errorf("GET %s: %d %v, want 400 %s", c.path, status, m, c.code)
		}
	}
	// A query string on a write is refused too, and writes nothing: the
	// client most likely meant a key holding "?".
	if status, m, _ := f.do("POST", "/v1/objects/board/a?b", `{"type":"counter","op":"inc"}`); status != 400 || errCode(m) != "invalid_query" {
		t.Errorf("POST with a query: %d %v", status, m)
	}
	if status, m, _ := f.do("POST", "/v1/objects", `{}`); status != 405 || errCode(m) != "method_not_allowed" {
		t.Errorf("POST /v1/objects: %d %v", status, m)
	}
	if after := f.digest(); after != before {
		t.Fatalf("refused requests changed the node: digest %s, was %s", after, before)
	}
	// An escaped ? is part of the key.
	jsonEq(t, f.want(200, "POST", "/v1/objects/q%3Fx", `{"type":"counter","op":"inc"}`), `{"key":"q?x","type":"counter","value":1}`)
}

func TestHTTPListObjectsAuth(t *testing.T) {
	a := newTestAuth(t)
	f := newHTTPFixture(t, HTTPOptions{Auth: a.auth})
	tok := a.token(uuid.New(), []string{"board/"}, []string{"board/"}, false, time.Hour)
	do := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, resp.Status)
		return resp.StatusCode, b.String()
	}
	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"/v1/objects?prefix=board/", tok, 200},
		{"/v1/objects?prefix=board/1/", tok, 200},
		{"/v1/objects?prefix=", tok, 403},
		{"/v1/objects", tok, 403},
		{"/v1/objects?prefix=boa", tok, 403},
		{"/v1/objects?prefix=board/", "", 401},
	} {
		if status, s := do(c.path, c.token); status != c.status {
			t.Errorf("GET %s: %s, want %d", c.path, s, c.status)
		}
	}
}

func TestHTTPAdminCutAndDurations(t *testing.T) {
	net := transport.NewMemNetwork()
	faulty := transport.NewFaulty(net.Add("h1"), 1)
	t.Cleanup(func() { faulty.Close() })
	peer, err := Open(testConfig(t, "h2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	if err := peer.Attach(net.Add("h2")); err != nil {
		t.Fatal(err)
	}
	f := newHTTPFixture(t, HTTPOptions{Admin: true, Faults: faulty})
	if err := f.n.Attach(faulty); err != nil {
		t.Fatal(err)
	}
	got := f.want(200, "PUT", "/v1/admin/faults", `{"delay":"250ms","jitter":"1.5s","cut":["h2"]}`)
	jsonEq(t, got["faults"], `{"drop":0,"duplicate":0,"reorder":0,"delay":250000000,"jitter":1500000000,"cut":["h2"]}`)
	got = f.want(200, "PUT", "/v1/admin/faults", `{"delay":50000000}`) // nanoseconds still work
	jsonEq(t, got["faults"], `{"drop":0,"duplicate":0,"reorder":0,"delay":50000000,"jitter":0,"cut":[]}`)
	for _, body := range []string{
		`{"cut":["h3"]}`,            // no such node
		`{"cut":["h1"]}`,            // itself
		`{"delay":"soon"}`,          // not a duration
		`{"jitter":"-1s"}`,          // outside [0, 1m]
		`{"delay":"2m"}`,            // outside [0, 1m]
		`{"delay":"1s","cut":[""]}`, // the rest still validated
	} {
		if status, m, _ := f.do("PUT", "/v1/admin/faults", body); status != 400 || errCode(m) != "invalid_faults" {
			t.Errorf("PUT %s: %d %v, want 400 invalid_faults", body, status, m)
		}
	}
	if status, m, _ := f.do("PUT", "/v1/admin/faults", `{"delay":"1s","dealy":1}`); status != 400 || errCode(m) != "unknown_field" {
		t.Errorf("a typo beside a duration string: %d %v, want 400 unknown_field", status, m)
	}
	jsonEq(t, f.want(200, "GET", "/v1/admin/faults", "")["faults"], `{"drop":0,"duplicate":0,"reorder":0,"delay":50000000,"jitter":0,"cut":[]}`)
}

// A client that gives up before the answer is not an internal error: the
// node logs it at info and counts it under 499.
func TestHTTPClientGoneIsNotInternal(t *testing.T) {
	var logs strings.Builder
	n, err := Open(testConfig(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	h := NewHTTPHandler(n, HTTPOptions{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone before the node answers
	req := httptest.NewRequest("POST", "/v1/objects/c", strings.NewReader(`{"type":"counter","op":"inc"}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != api.StatusClientClosed {
		t.Fatalf("status %d, want %d", rec.Code, api.StatusClientClosed)
	}
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "client closed the request") {
		t.Fatalf("log:\n%s", logs.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `lattice_http_requests_total{code="499",route="POST /v1/objects/{key...}"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}
