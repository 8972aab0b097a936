package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/transport"
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

// FaultController is what the admin endpoints need of a fault-injecting
// transport; *transport.Faulty is one. Its methods must be safe for
// concurrent use: every request calls them on its own goroutine.
type FaultController interface {
	Faults() transport.Faults
	SetFaults(transport.Faults) error
	Stats() transport.FaultyStats
}

var _ FaultController = (*transport.Faulty)(nil)

// Error codes of the HTTP API, documented with their statuses in
// docs/api.md. Clients switch on them, so they never change meaning.
const (
	codeMalformedJSON    = "malformed_json"
	codeUnknownField     = "unknown_field"
	codeDuplicateField   = "duplicate_field"
	codeUnknownType      = "unknown_type"
	codeUnknownOp        = "unknown_op"
	codeInvalidOp        = "invalid_op"
	codeInvalidValue     = "invalid_value"
	codeOutOfRange       = "out_of_range"
	codeWrongType        = "wrong_type"
	codeInvalidKey       = "invalid_key"
	codeBodyTooLarge     = "body_too_large"
	codeMethodNotAllowed = "method_not_allowed"
	codeNotFound         = "not_found"
	codeAdminDisabled    = "admin_disabled"
	codeNotImplemented   = "not_implemented"
	codeInvalidFaults    = "invalid_faults"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
	codeUnauthorized     = "unauthorized"
	codeTokenExpired     = "token_expired"
	codeForbidden        = "forbidden"
	codeUnsupportedMedia = "unsupported_media_type"
)

// apiError is an error the handler answers as is.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// Ready reports whether the node serves requests: it has not been closed.
// A transport, once Attach has returned, runs until Close, so an open node
// that was attached is also replicating.
func (n *Node) Ready() bool {
	select {
	case <-n.quit:
		return false
	default:
		return true
	}
}

// NewHTTPHandler returns the node's HTTP API: objects, digest, cluster
// view, health, Prometheus metrics, the WebSocket endpoint (docs/protocol.md)
// and, behind opts.Admin, fault injection. docs/api.md documents every
// route and error code. Its WebSocket connections close when the node does.
func NewHTTPHandler(n *Node, opts HTTPOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = n.log
	}
	a := &httpAPI{n: n, opts: opts, log: opts.Logger, metrics: registerHTTPMetrics(n.metrics.reg), sec: registerSecurityMetrics(n.metrics.reg)}
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
	handle(http.MethodGet, "/healthz", accessOpen, a.healthz)
	handle(http.MethodGet, "/readyz", accessOpen, a.readyz)
	prom := promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError)})
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
		return errorf(http.StatusNotFound, codeNotFound, "no route for %s %s", r.Method, r.URL.Path)
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
	n       *Node
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

// wrapAuth is wrap for a route that needs the rights need, when auth is on.
func (a *httpAPI) wrapAuth(route string, need access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		var g *Grant
		var err error
		if r.ContentLength > a.opts.MaxBodyBytes {
			// Refuse a declared size at once, before reading any of it.
			// Closing the body first tells net/http not to drain it for
			// keep-alive, which would wait for the client to send 256 KiB
			// more; the connection closes after the answer instead.
			_ = r.Body.Close()
			w.Header().Set("Connection", "close")
			err = &http.MaxBytesError{Limit: a.opts.MaxBodyBytes}
		} else {
			r.Body = http.MaxBytesReader(sw, r.Body, a.opts.MaxBodyBytes)
			if g, err = a.authorize(r, need); err == nil {
				err = h(sw, r)
			}
		}
		if err != nil {
			a.writeError(sw, r, id, err)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK // the handler wrote nothing
		}
		elapsed := time.Since(start)
		a.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		a.metrics.latency.WithLabelValues(route).Observe(elapsed.Seconds())
		attrs := []slog.Attr{slog.String("request_id", id), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("route", route),
			slog.Int("status", status), slog.Duration("elapsed", elapsed)}
		if g != nil {
			attrs = append(attrs, slog.String("sub", g.Subject), slog.String("replica", g.Replica.String()))
		}
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "http request", attrs...)
	})
}

// access is what a route needs of a token when auth is on.
type access uint8

const (
	accessOpen  access = iota // no token: probes, metrics, the demo's pages
	accessToken               // any valid token: digest, cluster view
	accessRead                // a read prefix covering {key}
	accessWrite               // a write prefix covering {key}
	accessList                // a read prefix covering all of ?prefix=
	accessAdmin               // the admin claim
)

// authorize checks the request's bearer token against need: 401 without a
// valid token, 403 when its rights do not cover the route. It returns the
// grant, nil when auth is off or the route is open.
func (a *httpAPI) authorize(r *http.Request, need access) (*Grant, error) {
	if a.opts.Auth == nil || need == accessOpen {
		return nil, nil
	}
	g, err := a.opts.Auth.Verify(bearer(r))
	if err != nil {
		reason := authReason(err)
		a.sec.authFailures.WithLabelValues("http", reason).Inc()
		if reason == "expired" {
			return nil, errorf(http.StatusUnauthorized, codeTokenExpired, "the token has expired")
		}
		return nil, errorf(http.StatusUnauthorized, codeUnauthorized, "%s", authMessage(err))
	}
	key := r.PathValue("key")
	ok := true
	switch need {
	case accessRead:
		ok = g.CanRead(key)
	case accessWrite:
		ok = g.CanWrite(key)
	case accessList:
		key = r.URL.Query().Get("prefix")
		ok = g.CanReadPrefix(key)
	case accessAdmin:
		ok = g.Admin
	}
	if !ok {
		a.sec.authFailures.WithLabelValues("http", "forbidden").Inc()
		switch need {
		case accessAdmin:
			return g, errorf(http.StatusForbidden, codeForbidden, "the token has no admin right")
		case accessWrite:
			return g, errorf(http.StatusForbidden, codeForbidden, "the token may not write %q", key)
		case accessList:
			return g, errorf(http.StatusForbidden, codeForbidden, "the token may not read every key under %q (list a prefix it covers)", key)
		}
		return g, errorf(http.StatusForbidden, codeForbidden, "the token may not read %q", key)
	}
	return g, nil
}

// authReason is an auth failure's metric label.
func authReason(err error) string {
	switch {
	case errors.Is(err, ErrTokenMissing):
		return "missing"
	case errors.Is(err, ErrTokenExpired):
		return "expired"
	}
	return "invalid"
}

func authMessage(err error) string {
	if errors.Is(err, ErrTokenMissing) {
		return "this node needs a token: Authorization: Bearer <token>"
	}
	return err.Error()
}

// requireJSON refuses a body that is not declared application/json with
// 415. A browser sends a cross-origin form or text/plain POST without
// asking first (a "simple" request), so accepting those would let any web
// page a user visits write to a node it can reach (CSRF); a JSON content
// type makes the browser ask the node first, and the node's CORS rules say
// no.
func requireJSON(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the body must be sent with Content-Type: application/json")
		}
		return h(w, r)
	}
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types reach here; they always encode
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers err with its documented status and code. Internal
// errors are logged with the request id and not shown: their text may name
// files and keys of the store.
func (a *httpAPI) writeError(w http.ResponseWriter, r *http.Request, id string, err error) {
	if clientGone(r, err) {
		a.log.Info("client closed the request before the answer", "request_id", id, "method", r.Method, "path", r.URL.Path)
		w.WriteHeader(statusClientClosed) // for the metrics and the log line: nobody reads it
		return
	}
	e := a.classify(err)
	if e.code == codeInternal {
		a.log.Error("http request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var body errorBody
	body.Error.Code, body.Error.Message = e.code, e.message
	writeJSON(w, e.status, body)
}

func (a *httpAPI) classify(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		a.sec.limitHits.WithLabelValues("body_size").Inc()
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, ErrInvalidKey):
		return errorf(http.StatusBadRequest, codeInvalidKey, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrWrongType):
		return errorf(http.StatusConflict, codeWrongType, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrInvalidOp):
		return errorf(http.StatusBadRequest, codeInvalidOp, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrOutOfRange):
		return errorf(http.StatusBadRequest, codeOutOfRange, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrLimit):
		return errorf(http.StatusBadRequest, codeInvalidValue, "%s", userMessage(err))
	case errors.Is(err, ErrClosed), errors.Is(err, transport.ErrClosed), !a.n.Ready():
		// A closed node's store answers with its own errors; whatever
		// they are, the node is going away.
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the node is shutting down")
	}
	return errorf(http.StatusInternalServerError, codeInternal, "internal error")
}

func methodNotAllowed(methods []string) handlerFunc {
	allow := slices.Clone(methods)
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead) // a GET pattern serves HEAD too
	}
	slices.Sort(allow)
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s is not allowed here; use %s", r.Method, strings.Join(allow, ", "))
	}
}

// decodeStrict decodes exactly one JSON object into v with decodeExact,
// giving each problem its documented code.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return errorf(http.StatusBadRequest, codeMalformedJSON, "empty body; expected a JSON object")
	}
	err := decodeExact(body, v)
	var ee *exactError
	if !errors.As(err, &ee) {
		return err
	}
	code := map[exactProblem]string{
		exactSyntax: codeMalformedJSON, exactDup: codeDuplicateField, exactEncoding: codeInvalidValue,
		exactUnknown: codeUnknownField, exactNull: codeInvalidValue, exactType: codeInvalidValue,
	}[ee.problem]
	return errorf(http.StatusBadRequest, code, "%s", ee.msg)
}

// readJSON reads the whole body (up to MaxBodyBytes) and decodes it
// strictly into v.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err // a MaxBytesError, or the client went away
	}
	return decodeStrict(body, v)
}

// objectResponse is what both object routes answer.
type objectResponse struct {
	Key   string    `json:"key"`
	Type  crdt.Type `json:"type"`
	Value any       `json:"value"`
}

func (a *httpAPI) getObject(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	o, err := a.n.Get(key)
	if err != nil {
		return err
	}
	if o.Type() == 0 {
		return errorf(http.StatusNotFound, codeNotFound, "object %q has never been written", key)
	}
	writeJSON(w, http.StatusOK, objectResponse{Key: key, Type: o.Type(), Value: o.Value()})
	return nil
}

// opBody mirrors crdt.Op's JSON form, field for field, so that unknown
// fields are refused and type and op get errors of their own; crdt.Op's
// decoder then reads the same bytes.
type opBody struct {
	Type  json.RawMessage `json:"type"`
	Op    json.RawMessage `json:"op"`
	Path  json.RawMessage `json:"path"`
	Value json.RawMessage `json:"value"`
	By    json.RawMessage `json:"by"`
	Index json.RawMessage `json:"index"`
	Count json.RawMessage `json:"count"`
}

// decodeOp reads an operation, checking what crdt.Op's decoder folds into
// one error (ErrInvalid) first, so each mistake gets its own code.
func decodeOp(body []byte) (crdt.Op, error) {
	var b opBody
	if err := decodeStrict(body, &b); err != nil {
		return crdt.Op{}, err
	}
	var typ, opName string
	if b.Type == nil || json.Unmarshal(b.Type, &typ) != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownType, `"type" must be a type name such as "counter"`)
	}
	if _, err := crdt.ParseType(typ); err != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownType, "unknown type %q", typ)
	}
	if b.Op == nil || json.Unmarshal(b.Op, &opName) != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownOp, `"op" must be an operation name such as "inc"`)
	}
	kind, err := crdt.ParseOpKind(opName)
	if err != nil {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownOp, "unknown op %q", opName)
	}
	// crdt.Op ignores fields its op does not use; a client that sends
	// {"op":"inc","value":5} means something, so say it is not done.
	takesValue := kind == crdt.OpAdd || kind == crdt.OpRemove || kind == crdt.OpSet || kind == crdt.OpInsert
	takesBy := kind == crdt.OpInc || kind == crdt.OpDec
	if b.Index != nil && typ != "text" {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownField, `%s %s takes no "index"`, typ, kind)
	}
	if b.Count != nil && (typ != "text" || kind != crdt.OpDelete) {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownField, `%s %s takes no "count"`, typ, kind)
	}
	if b.Value != nil && !takesValue {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownField, `%s takes no "value"`, kind)
	}
	if b.By != nil && !takesBy {
		return crdt.Op{}, errorf(http.StatusBadRequest, codeUnknownField, `%s takes no "by"`, kind)
	}
	var op crdt.Op
	if err := json.Unmarshal(body, &op); err != nil {
		return crdt.Op{}, err // a crdt sentinel, classified by writeError
	}
	return op, nil
}

// postObject applies one operation and answers with the object's new
// value once the write is durable: for counters, registers and flags the
// value the commit itself wrote, for sets and maps a read after it.
func (a *httpAPI) postObject(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	op, err := decodeOp(body)
	if err != nil {
		return err
	}
	if !a.n.Ready() {
		// Apply on a closed node may find the committer gone; refuse first.
		return ErrClosed
	}
	o, err := a.n.applyAndRead(r.Context(), key, op)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, objectResponse{Key: key, Type: o.Type(), Value: o.Value()})
	return nil
}

func (a *httpAPI) getDigest(w http.ResponseWriter, r *http.Request) error {
	vv := a.n.VersionVector()
	d, count, err := a.n.Digest()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Digest  string            `json:"digest"`
		Objects int               `json:"objects"`
		VV      map[string]uint64 `json:"vv"`
	}{d, count, vvJSON(vv)})
	return nil
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
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the node is closed")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// admin guards an admin route: 403 unless enabled, 501 without a
// FaultController.
func (a *httpAPI) admin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !a.opts.Admin {
			return errorf(http.StatusForbidden, codeAdminDisabled, "admin endpoints are disabled on this node")
		}
		if a.opts.Faults == nil {
			return errorf(http.StatusNotImplemented, codeNotImplemented, "this node has no fault-injecting transport")
		}
		return h(w, r)
	}
}

type faultsResponse struct {
	Faults transport.Faults      `json:"faults"`
	Stats  transport.FaultyStats `json:"stats"`
}

func (a *httpAPI) writeFaults(w http.ResponseWriter) {
	fs := a.opts.Faults.Faults()
	if fs.Cut == nil {
		fs.Cut = []string{} // always a list, so clients need not test for null
	}
	writeJSON(w, http.StatusOK, faultsResponse{Faults: fs, Stats: a.opts.Faults.Stats()})
}

func (a *httpAPI) getFaults(w http.ResponseWriter, r *http.Request) error {
	a.writeFaults(w)
	return nil
}

func (a *httpAPI) putFaults(w http.ResponseWriter, r *http.Request) error {
	var fs transport.Faults
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if body, err = durationsAsNanos(body); err != nil {
		return err
	}
	if err := decodeStrict(body, &fs); err != nil {
		return err
	}
	if err := fs.Validate(); err != nil {
		// errors.Join puts one field per line; keep the message on one.
		return errorf(http.StatusBadRequest, codeInvalidFaults, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := a.checkCut(fs.Cut); err != nil {
		return err
	}
	return a.setFaults(w, fs)
}

func (a *httpAPI) heal(w http.ResponseWriter, r *http.Request) error {
	return a.setFaults(w, transport.Faults{})
}

func (a *httpAPI) setFaults(w http.ResponseWriter, fs transport.Faults) error {
	if err := a.opts.Faults.SetFaults(fs); err != nil {
		return err
	}
	a.log.Info("faults set", "faults", fs)
	a.writeFaults(w)
	return nil
}

// httpMetrics are the API's own collectors, on the node's registry.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func registerHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	return &httpMetrics{
		requests: registerOnce(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_http_requests_total", Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"})),
		latency: registerOnce(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lattice_http_request_duration_seconds", Help: "HTTP request latency, by route pattern; writes include the group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
		}, []string{"route"})),
	}
}

// registerOnce registers c, or returns the collector already registered
// under its name, so that two handlers on one node (a public and an admin
// listener) share their counters instead of panicking.
func registerOnce[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(c); errors.As(err, &are) {
		return are.ExistingCollector.(C)
	} else if err != nil {
		panic(err) // our own names and labels: a bug, found by the first test
	}
	return c
}

// sentinels are the package errors whose text names Go packages; an
// error's message for the API's user leaves them out, since its code
// already says what kind of error it is.
var sentinels = []error{
	crdt.ErrInvalid, crdt.ErrWrongType, crdt.ErrInvalidOp, crdt.ErrLimit, crdt.ErrOutOfRange,
	crdt.ErrForgedDot, crdt.ErrUnseenDots, crdt.ErrSeqExhausted, crdt.ErrVersion, ErrInvalidKey,
}

// userMessage is err's text without the sentinels' package prefixes.
func userMessage(err error) string {
	msg := err.Error()
	for _, s := range sentinels {
		msg = strings.ReplaceAll(msg, s.Error()+": ", "")
	}
	return msg
}
