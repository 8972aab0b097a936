package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/lattice-sync/lattice/internal/protocol"
)

// JSON in and out of the HTTP API: content type, strict decoding, encoding.

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
			return errorf(http.StatusUnsupportedMediaType, protocol.UnsupportedMedia, "the body must be sent with Content-Type: application/json")
		}
		return h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types reach here; they always encode
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeStrict decodes exactly one JSON object into v with decodeExact,
// giving each problem its documented code.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return errorf(http.StatusBadRequest, protocol.MalformedJSON, "empty body; expected a JSON object")
	}
	err := decodeExact(body, v)
	var ee *exactError
	if !errors.As(err, &ee) {
		return err
	}
	code := map[exactProblem]string{
		exactSyntax: protocol.MalformedJSON, exactDup: protocol.DuplicateField, exactEncoding: protocol.InvalidValue,
		exactUnknown: protocol.UnknownField, exactNull: protocol.InvalidValue, exactType: protocol.InvalidValue,
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
