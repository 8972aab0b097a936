package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lattice-sync/lattice/internal/protocol"
)

// durationsAsNanos rewrites the "delay" and "jitter" of a faults body
// given as duration strings ("250ms", "1.5s") into the nanoseconds
// transport.Faults reads, so that people need not count zeros. Anything
// else, including a body that is no JSON object, is left for the strict
// decoder to judge.
func durationsAsNanos(body []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &fields) != nil {
		return body, nil
	}
	changed := false
	for _, name := range []string{"delay", "jitter"} {
		raw, ok := fields[name]
		if !ok || len(raw) == 0 || raw[0] != '"' {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errorf(http.StatusBadRequest, protocol.InvalidFaults, "%s: not a JSON string", name)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, protocol.InvalidFaults, `%s: %q is not a duration such as "250ms" or "1.5s"`, name, s)
		}
		fields[name] = json.RawMessage(fmt.Sprint(int64(d)))
		changed = true
	}
	if !changed {
		return body, nil
	}
	return json.Marshal(fields)
}

// checkCut refuses a cut naming a node this one does not know, or itself:
// a typo would otherwise cut nothing and look like a partition that heals
// by itself.
func (a *httpAPI) checkCut(cut []string) error {
	ci := a.n.Cluster()
	known := make([]string, 0, len(ci.Members))
	for _, m := range ci.Members {
		known = append(known, m.Name)
	}
	for _, name := range cut {
		switch {
		case name == ci.Name:
			return errorf(http.StatusBadRequest, protocol.InvalidFaults, "cut: %q is this node; cut it off from the others by naming them", name)
		case !slices.Contains(known, name):
			return errorf(http.StatusBadRequest, protocol.InvalidFaults, "cut: no node %q in this node's cluster view (members: %s)", name, strings.Join(known, ", "))
		}
	}
	return nil
}
