package api

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBodyBytes is HTTPOptions.MaxBodyBytes's default: an operation
// is a few hundred bytes at most, so 64 KiB leaves room for long string
// values without letting a client make the node buffer megabytes.
const DefaultMaxBodyBytes = 64 << 10

// HTTPOptions configures NewHTTPHandler. The zero value is the public API
// without admin endpoints.
type HTTPOptions struct {
	// Admin enables the /v1/admin/ endpoints, with which anyone who reaches
	// the listener can cut this node off and drop its traffic. Default
	// false: they answer 403 admin_disabled.
	Admin bool
	// Faults is the fault-injecting transport the admin endpoints drive.
	// Default nil: they answer 501 not_implemented.
	Faults FaultController
	// MaxBodyBytes bounds a request body; larger ones get 413
	// body_too_large. Default DefaultMaxBodyBytes (64 KiB).
	MaxBodyBytes int64
	// Logger receives one debug line per request and an error line per
	// internal error. Default: the node's logger.
	Logger *slog.Logger
	// WS configures the WebSocket endpoint, GET /v1/ws. Its Logger
	// defaults to Logger.
	WS WSOptions
	// UI, if set, serves every path outside the API (not under /v1/, nor
	// /healthz, /readyz, /metrics): the demo's pages. Default nil: those
	// paths answer 404 not_found.
	UI http.Handler
	// Auth verifies the bearer token of every API request (docs/api.md,
	// "Authentication"): 401 without a valid one, 403 when its rights do
	// not cover the request. It also guards the WebSocket endpoint unless
	// WS.Auth is set. Default nil: no auth, for development only.
	Auth *Authenticator
}

// Ready reports whether the node serves requests: it has not been closed.
// A transport, once Attach has returned, runs until Close, so an open node
// that was attached is also replicating.
func (b *Backend) Ready() bool {
	select {
	case <-b.Done:
		return false
	default:
		return true
	}
}

// NewHTTPHandler returns the node's HTTP API: objects, digest, cluster
// view, health, Prometheus metrics, the WebSocket endpoint (docs/protocol.md)
// and, behind opts.Admin, fault injection. docs/api.md documents every
// route and error code. Its WebSocket connections close when the node does.
func NewHTTPHandler(n *Backend, opts HTTPOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = n.Logger
	}
	a := &httpAPI{n: n, opts: opts, log: opts.Logger, metrics: registerHTTPMetrics(n.Registry), sec: registerSecurityMetrics(n.Registry)}
	mux := http.NewServeMux()
	methods := map[string][]string{} // path -> methods it has
	handle := func(method, path string, need access, h handlerFunc) {
		pattern := method + " " + path
		if method == http.MethodPost || method == http.MethodPut {
			h = requireJSON(h)
		}
		mux.Handle(pattern, a.wrapAuth(pattern, need, h))
		methods[path] = append(methods[path], method)
	}
	handle(http.MethodGet, "/v1/objects", accessList, a.listObjects)
	handle(http.MethodGet, "/v1/objects/{key...}", accessRead, noQuery(a.getObject))
	handle(http.MethodPost, "/v1/objects/{key...}", accessWrite, noQuery(a.postObject))
	handle(http.MethodGet, "/v1/digest", accessToken, a.getDigest)
	handle(http.MethodGet, "/v1/cluster", accessToken, a.getCluster)
	handle(http.MethodGet, "/v1/admin/faults", accessAdmin, a.admin(a.getFaults))
	handle(http.MethodPut, "/v1/admin/faults", accessAdmin, a.admin(a.putFaults))
	handle(http.MethodPost, "/v1/admin/heal", accessAdmin, a.admin(a.heal))
	handle(http.MethodPost, "/v1/admin/fold", accessAdmin, noQuery(a.adminOn(a.postFold)))
	handle(http.MethodGet, "/healthz", accessOpen, a.healthz)
	handle(http.MethodGet, "/readyz", accessOpen, a.readyz)
	prom := promhttp.HandlerFor(n.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError)})
	handle(http.MethodGet, "/metrics", accessOpen, func(w http.ResponseWriter, r *http.Request) error {
		prom.ServeHTTP(w, r)
		return nil
	})
	if opts.WS.Logger == nil {
		opts.WS.Logger = opts.Logger
	}
	if opts.WS.Auth == nil {
		opts.WS.Auth = opts.Auth
	}
	// Not wrapped: the upgrade needs the connection's http.Hijacker, and a
	// connection's life is not a request's latency.
	mux.Handle("GET /v1/ws", NewWSHandler(n, opts.WS))
	methods["/v1/ws"] = append(methods["/v1/ws"], http.MethodGet)
	// ServeMux answers a known path with the wrong method in plain text;
	// these method-less patterns, less specific than the ones above, give
	// the JSON error instead.
	for path, ms := range methods {
		mux.Handle(path, a.wrap(path, methodNotAllowed(ms)))
	}
	notFound := a.wrap("unmatched", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, protocol.NotFound, "no route for %s %s", r.Method, r.URL.Path)
	})
	if opts.UI != nil {
		mux.Handle("/v1/", notFound) // the API's own namespace stays JSON
		mux.Handle("/", opts.UI)
	} else {
		mux.Handle("/", notFound)
	}
	return mux
}

// handlerFunc is a route's handler; a returned error becomes the JSON
// error response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type httpAPI struct {
	n       *Backend
	opts    HTTPOptions
	log     *slog.Logger
	metrics *httpMetrics
	sec     *securityMetrics
}

// wrap gives a route its request id, body limit, error response, metrics
// and debug log line; the route needs no token.
func (a *httpAPI) wrap(route string, h handlerFunc) http.Handler {
	return a.wrapAuth(route, accessOpen, h)
}

// requestID echoes a client's X-Request-Id if it is short, printable ASCII
// (it goes into logs and a response header), and makes one up otherwise.
func requestID(h string) string {
	ok := h != "" && len(h) <= 128 && !strings.ContainsFunc(h, func(c rune) bool { return c < 0x21 || c > 0x7e })
	if ok {
		return h
	}
	return uuid.NewString()
}

// statusWriter remembers the status a handler wrote, for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func methodNotAllowed(methods []string) handlerFunc {
	allow := slices.Clone(methods)
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead) // a GET pattern serves HEAD too
	}
	slices.Sort(allow)
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, protocol.MethodNotAllowed, "%s is not allowed here; use %s", r.Method, strings.Join(allow, ", "))
	}
}

func (a *httpAPI) getCluster(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.n.Cluster())
	return nil
}

func (a *httpAPI) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *httpAPI) readyz(w http.ResponseWriter, r *http.Request) error {
	if !a.n.Ready() {
		return errorf(http.StatusServiceUnavailable, protocol.Unavailable, "the node is closed")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// admin guards an admin route: 403 unless enabled, 501 without a
// FaultController.
func (a *httpAPI) admin(h handlerFunc) handlerFunc {
	return a.adminOn(func(w http.ResponseWriter, r *http.Request) error {
		if a.opts.Faults == nil {
			return errorf(http.StatusNotImplemented, protocol.NotImplemented, "this node has no fault-injecting transport")
		}
		return h(w, r)
	})
}

// adminOn guards an admin route: 403 unless the node's admin switch is on.
func (a *httpAPI) adminOn(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !a.opts.Admin {
			return errorf(http.StatusForbidden, protocol.AdminDisabled, "admin endpoints are disabled on this node")
		}
		return h(w, r)
	}
}
