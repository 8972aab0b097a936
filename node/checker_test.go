package node

import (
	"context"
	"errors"
	"strings"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
)

// The Jepsen-style tests' side of the shared history and checkers
// (internal/testkit): recording a node's Apply calls, and reading a
// node's final state for the checkers.

// history records Apply calls on nodes.
type history struct{ testkit.History }

// apply runs op on n and records it with its outcome.
func (h *history) apply(ctx context.Context, process int, n *Node, key string, op crdt.Op) error {
	return h.Do(histOp(process, n.Name(), key, op), func() (testkit.Outcome, error) {
		_, err := n.Apply(ctx, key, op)
		return classify(err), err
	})
}

// histOp is op as the checkers see it: a field, a kind and a value. An
// operation the checkers have no model for (a multi-value register, a
// flag, a map delete) keeps its crdt kind's name, which no checker reads.
func histOp(process int, node, key string, op crdt.Op) testkit.Op {
	o := testkit.Op{Process: process, Node: node, Field: fieldName(key, op.Path), By: op.By}
	switch {
	case op.Kind == crdt.OpInc:
		o.Kind = testkit.Inc
	case op.Kind == crdt.OpDec:
		o.Kind = testkit.Dec
	case op.Kind == crdt.OpAdd:
		o.Kind = testkit.Add
	case op.Kind == crdt.OpRemove:
		o.Kind = testkit.Remove
	case op.Kind == crdt.OpSet && op.Type == crdt.TypeLWW:
		o.Kind = testkit.Set
	default:
		o.Kind = testkit.Kind(op.Type.String() + " " + op.Kind.String())
	}
	if op.Kind == crdt.OpAdd || op.Kind == crdt.OpRemove || op.Kind == crdt.OpSet {
		o.Value = op.Value.Interface()
	}
	return o
}

func fieldName(key string, path []string) string {
	if len(path) == 0 {
		return key
	}
	return key + "/" + strings.Join(path, "/")
}

// classify says what an Apply error proves. ErrClosed comes only from a
// node that refused the request before queueing it; a refused operation
// (bad key, wrong type, invalid op) changed nothing. Anything else, a
// timeout above all, leaves the outcome open.
func classify(err error) testkit.Outcome {
	switch {
	case err == nil:
		return testkit.OK
	case errors.Is(err, ErrClosed), errors.Is(err, ErrInvalidKey),
		errors.Is(err, crdt.ErrWrongType), errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrInvalidOp):
		return testkit.Fail
	}
	return testkit.Info
}

// checkState checks one node's final state against the history: values
// are the node's plain values by key; a field in a map is found by
// walking its path (the workloads' keys hold no "/"). The nodes of one process share the wall clock, so the
// register checker allows no skew.
func checkState(ops []testkit.Op, values map[string]any) []testkit.Verdict {
	return checkStateSkew(ops, values, 0)
}

// checkStateSkew is checkState for nodes whose wall clocks may be up to
// skewMillis apart (the simulation skews them).
func checkStateSkew(ops []testkit.Op, values map[string]any, skewMillis int64) []testkit.Verdict {
	return testkit.Check(ops, skewMillis, func(field string) (any, bool) {
		key, path, _ := strings.Cut(field, "/")
		var p []string
		if path != "" {
			p = strings.Split(path, "/")
		}
		return lookup(values[key], p)
	})
}

// lookup walks a plain map value down path; ok is false where the path
// ends before the field.
func lookup(v any, path []string) (any, bool) {
	if v == nil {
		return nil, false
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}
