package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
	"github.com/lattice-sync/lattice/transport"
)

// The HTTP API's error codes and how an error becomes a status and a JSON
// body.

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
		w.WriteHeader(StatusClientClosed) // for the metrics and the log line: nobody reads it
		return
	}
	e := a.classify(err)
	if e.code == protocol.Internal {
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
		return errorf(http.StatusRequestEntityTooLarge, protocol.BodyTooLarge, "request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, store.ErrInvalidKey):
		return errorf(http.StatusBadRequest, protocol.InvalidKey, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrWrongType):
		return errorf(http.StatusConflict, protocol.WrongType, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrInvalidOp):
		return errorf(http.StatusBadRequest, protocol.InvalidOp, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrOutOfRange):
		return errorf(http.StatusBadRequest, protocol.OutOfRange, "%s", userMessage(err))
	case errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrLimit):
		return errorf(http.StatusBadRequest, protocol.InvalidValue, "%s", userMessage(err))
	case errors.Is(err, store.ErrClosed), errors.Is(err, transport.ErrClosed), !a.n.Ready():
		// A closed node's store answers with its own errors; whatever
		// they are, the node is going away.
		return errorf(http.StatusServiceUnavailable, protocol.Unavailable, "the node is shutting down")
	}
	return errorf(http.StatusInternalServerError, protocol.Internal, "internal error")
}

// sentinels are the package errors whose text names Go packages; an
// error's message for the API's user leaves them out, since its code
// already says what kind of error it is.
var sentinels = []error{
	crdt.ErrInvalid, crdt.ErrWrongType, crdt.ErrInvalidOp, crdt.ErrLimit, crdt.ErrOutOfRange,
	crdt.ErrForgedDot, crdt.ErrUnseenDots, crdt.ErrSeqExhausted, crdt.ErrVersion, store.ErrInvalidKey,
}

// userMessage is err's text without the sentinels' package prefixes.
func userMessage(err error) string {
	msg := err.Error()
	for _, s := range sentinels {
		msg = strings.ReplaceAll(msg, s.Error()+": ", "")
	}
	return msg
}
