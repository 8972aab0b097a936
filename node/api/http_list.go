package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/store"
)

// Listing's page sizes: DefaultListLimit when limit is not given, at most
// MaxListLimit (a page is one read per key, kept well under a second).
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// listResponse is GET /v1/objects's answer: a page of keys, and the
// after parameter of the next page when there is one.
type listResponse struct {
	Objects []store.KeyInfo `json:"objects"`
	Next    string          `json:"next,omitempty"`
}

// listObjects lists the objects under ?prefix= in key order, a page of
// ?limit= at a time from ?after= (docs/api.md, "Listing keys").
func (a *httpAPI) listObjects(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "prefix", "after", "limit")
	if err != nil {
		return err
	}
	limit := DefaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return errorf(http.StatusBadRequest, protocol.InvalidQuery, "limit %q: want a whole number from 1 to %d", s, MaxListLimit)
		}
		limit = n
	}
	keys, next, err := a.n.Store.Keys(q.Get("prefix"), q.Get("after"), limit)
	if err != nil {
		return err
	}
	resp := listResponse{Objects: keys}
	if resp.Objects == nil {
		resp.Objects = []store.KeyInfo{}
	}
	resp.Next = next
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// queryParams parses r's query string, refusing a parameter not in known
// and one given twice, so that a typo is an error rather than a default.
func queryParams(r *http.Request, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, protocol.InvalidQuery, "the query string is not valid: %v", err)
	}
	for name, vs := range q {
		if !slices.Contains(known, name) {
			return nil, errorf(http.StatusBadRequest, protocol.InvalidQuery, "unknown parameter %q; this route takes %s", name, strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return nil, errorf(http.StatusBadRequest, protocol.InvalidQuery, "parameter %q is given %d times", name, len(vs))
		}
	}
	return q, nil
}

// noQuery refuses a query string on a route that takes none: on an object
// URL it is most often part of a key that should have been encoded, and
// dropping it would read or write another key than meant.
func noQuery(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.RawQuery != "" || r.URL.ForceQuery {
			return errorf(http.StatusBadRequest, protocol.InvalidQuery,
				"%s takes no query string (a key holding ? or # must encode them as %%3F and %%23)", r.URL.Path)
		}
		return h(w, r)
	}
}
