package api

import (
	"context"
	"errors"
	"net/http"
)

// StatusClientClosed is the status counted (lattice_http_requests_total's
// code label) and logged for a request whose client went away before the
// answer: nginx's 499. The client never sees it.
const StatusClientClosed = 499

// clientGone reports whether err is the request's own context ending
// because its client closed the connection: a client that gave up (a
// timeout against a slow or paused node), not an internal error. A write
// it sent may still be applied: it was queued before the client left.
func clientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(r.Context().Err(), context.Canceled)
}
