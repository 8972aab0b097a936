package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lattice-sync/lattice/internal/testkit"
)

func TestHandlerServesPageAndClient(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, status, contentType, body string
	}{
		{"/", "200", "text/html", `<script type="module" src="app.js">`},
		{"/app.js", "200", "javascript", "from '/js/lattice.js'"},
		{"/style.css", "200", "text/css", ".card"},
		{"/js/lattice.js", "200", "javascript", "export class Client"},
		{"/js/crdt.js", "200", "javascript", "export class CrdtObject"},
		{"/nothing-here", "404", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if got := res.Status[:3]; got != tt.status {
				t.Fatalf("GET %s: status %s, want %s", tt.path, res.Status, tt.status)
			}
			if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tt.contentType) {
				t.Errorf("GET %s: Content-Type %q, want it to contain %q", tt.path, ct, tt.contentType)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("GET %s: body lacks %q", tt.path, tt.body)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	tests := []struct {
		name          string
		method, url   string
		origin        string
		requestMethod string // Access-Control-Request-Method, for preflights
		allow         bool   // Access-Control-Allow-Origin echoes the origin
		reachesNext   bool
	}{
		{"read cluster from a sibling port", "GET", "http://127.0.0.1:8081/v1/cluster", "http://127.0.0.1:8080", "", true, true},
		{"read digest, localhost page, 127.0.0.1 node", "GET", "http://127.0.0.1:8082/v1/digest", "http://localhost:8080", "", true, true},
		{"preflight for PUT faults", "OPTIONS", "http://127.0.0.1:8081/v1/admin/faults", "http://127.0.0.1:8080", "PUT", true, false},
		{"heal", "POST", "http://10.0.0.5:8081/v1/admin/heal", "http://10.0.0.5:8080", "", true, true},
		{"read an object", "GET", "http://127.0.0.1:8081/v1/objects/demo/board/title", "http://127.0.0.1:8080", "", true, true},
		{"list keys (the key browser on another node)", "GET", "http://127.0.0.1:8081/v1/objects?prefix=board/", "http://127.0.0.1:8080", "", true, true},
		{"no cross-origin object writes", "OPTIONS", "http://127.0.0.1:8081/v1/objects/a", "http://127.0.0.1:8080", "POST", false, true},
		{"no cross-origin object POST", "POST", "http://127.0.0.1:8081/v1/objects/a", "http://127.0.0.1:8080", "", false, true},
		{"a page elsewhere", "OPTIONS", "http://127.0.0.1:8081/v1/admin/faults", "https://evil.example", "PUT", false, true},
		{"another machine", "GET", "http://10.0.0.6:8081/v1/cluster", "http://10.0.0.5:8080", "", false, true},
		{"not a web origin", "GET", "http://127.0.0.1:8081/v1/cluster", "null", "", false, true},
		{"same origin, no header", "GET", "http://127.0.0.1:8081/v1/cluster", "", "", false, true},
		{"metrics stay private", "GET", "http://127.0.0.1:8081/metrics", "http://127.0.0.1:8080", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			h := CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
			req := httptest.NewRequest(tt.method, tt.url, nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.requestMethod != "" {
				req.Header.Set("Access-Control-Request-Method", tt.requestMethod)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("Access-Control-Allow-Origin")
			if tt.allow && got != tt.origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.origin)
			}
			if !tt.allow && got != "" {
				t.Errorf("Access-Control-Allow-Origin %q, want none", got)
			}
			if reached != tt.reachesNext {
				t.Errorf("reached the node's handler: %v, want %v", reached, tt.reachesNext)
			}
			if tt.allow && tt.requestMethod != "" {
				if rec.Code != http.StatusNoContent {
					t.Errorf("preflight status %d, want 204", rec.Code)
				}
				if m := rec.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(m, tt.requestMethod) {
					t.Errorf("Access-Control-Allow-Methods %q lacks %s", m, tt.requestMethod)
				}
				if h := rec.Header().Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Content-Type") {
					t.Errorf("Access-Control-Allow-Headers %q lacks Content-Type", h)
				}
			}
		})
	}
}

// TestMain removes the lattice binary that the browser test builds.
func TestMain(m *testing.M) { testkit.Main(m) }
