package api

import (
	"log"
	"net/http"
	"time"
)

// Timeouts of the HTTP server NewHTTPServer returns (docs/api.md). A client
// that sends slowly or stops mid-request holds a handler, a goroutine and
// a connection for at most these, however it behaves.
const (
	// ReadHeaderTimeout bounds reading a request's headers: 10 s is far
	// beyond any real client and short enough that a slowloris holds little.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, body included: a 64 KiB
	// body takes well under a second on any link a client would use.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds writing an answer. Answers are small; /metrics
	// is the largest.
	WriteTimeout = 30 * time.Second
	// IdleTimeout is how long a keep-alive connection waits for its next
	// request.
	IdleTimeout = 2 * time.Minute
)

// NewHTTPServer returns the server every node's listener uses, with the
// timeouts above. WebSocket connections are not held to them: gorilla's
// upgrade clears the deadlines, and the connection keeps its own
// (WSOptions.IdleTimeout, pings).
func NewHTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		ErrorLog:          errorLog,
	}
}
