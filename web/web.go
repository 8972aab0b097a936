// Package web is Lattice's collaborative demo: a small board (title, cards
// with text, votes, tags and a done flag, a shared note) that tabs edit
// together through the JavaScript client, next to a live view of the
// cluster (nodes, who reaches whom, version vectors, digests) with controls
// to cut nodes off, lose, delay, duplicate and reorder messages, and heal.
//
// It is static files only: the page talks to the node that served it over
// the WebSocket protocol (docs/protocol.md) and to every node over the HTTP
// API (docs/api.md). It holds no state and must not grow server-side logic;
// anything the page needs that the API lacks belongs in the API.
//
// A node mounts Handler as its UI. When the admin switch is on, wrap the
// node's whole handler in CORS so that the page served by one node can poll
// and drive the others.
package web

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"

	js "github.com/lattice-sync/lattice/clients/js"
)

//go:embed static
var static embed.FS

// Handler serves the demo page at "/" and the JavaScript client's modules
// at "/js/". Every other path is 404: the node's own routes are matched
// before the UI.
func Handler() http.Handler {
	page, err := fs.Sub(static, "static")
	if err != nil { // the embed pattern above guarantees the folder
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /js/", noCache(http.StripPrefix("/js/", http.FileServerFS(js.Files))))
	mux.Handle("GET /", noCache(http.FileServerFS(page)))
	return mux
}

// noCache makes browsers revalidate: embedded files carry no modification
// time, so without it a tab could keep a page from an older binary.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// CORS lets the demo page, served by one node, read the cluster view,
// digests and objects of the other nodes and drive their admin endpoints.
// Use it only with the admin switch on.
//
// It answers cross-origin requests only from pages on the same host as the
// node (another port, as in `lattice demo`) or, for a node on a loopback
// address, from any loopback origin (localhost and 127.0.0.1 mixed), and
// only for the read-only routes and /v1/admin/: an unrelated web page the
// developer happens to visit must not be able to cut their local cluster
// apart, and no origin gets cross-origin writes to objects. Preflight
// OPTIONS requests are answered here and never reach next.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		method := r.Method
		preflight := method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			method = r.Header.Get("Access-Control-Request-Method")
		}
		if origin == "" || !corsAllowed(method, r.URL.Path) || !SameMachine(r) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "X-Request-Id")
		if preflight {
			h.Set("Access-Control-Allow-Methods", method)
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// corsAllowed reports whether the demo page may call method on path of
// another node: reads anywhere it looks, and the admin routes.
func corsAllowed(method, path string) bool {
	if strings.HasPrefix(path, "/v1/admin/") {
		return true
	}
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	switch path {
	case "/v1/cluster", "/v1/digest", "/v1/objects", "/healthz", "/readyz":
		return true
	}
	return strings.HasPrefix(path, "/v1/objects/")
}

// SameMachine reports whether r comes from a page on the node's own
// machine: its Origin names the host r was sent to, on any port, or both
// are loopback addresses. It is the rule CORS applies, and fits
// node.WSOptions.CheckOrigin when the demo's node picker should connect a
// tab to a node other than the one that served it. A request without an
// Origin does not come from a browser page, and passes.
func SameMachine(r *http.Request) bool {
	origin, host := r.Header.Get("Origin"), r.Host
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	oh := u.Hostname()
	hh := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hh = h
	}
	hh = strings.Trim(hh, "[]")
	return strings.EqualFold(oh, hh) || (loopback(oh) && loopback(hh))
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
