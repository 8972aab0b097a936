package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/lattice-sync/lattice/internal/protocol"
)

// Which routes need which rights, and the bearer token check.

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
			return nil, errorf(http.StatusUnauthorized, protocol.TokenExpired, "the token has expired")
		}
		return nil, errorf(http.StatusUnauthorized, protocol.Unauthorized, "%s", authMessage(err))
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
			return g, errorf(http.StatusForbidden, protocol.Forbidden, "the token has no admin right")
		case accessWrite:
			return g, errorf(http.StatusForbidden, protocol.Forbidden, "the token may not write %q", key)
		case accessList:
			return g, errorf(http.StatusForbidden, protocol.Forbidden, "the token may not read every key under %q (list a prefix it covers)", key)
		}
		return g, errorf(http.StatusForbidden, protocol.Forbidden, "the token may not read %q", key)
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
