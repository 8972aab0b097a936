package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lattice-sync/lattice/crdt"
)

// Jepsen-style checkers for the multi-node tests: a history of operations
// as the writers saw them, and checks of every node's final state against
// it. The checks are sound for add-wins sets and PN-counters whatever the
// network did: they only demand what the history proves.

// outcome is how an operation ended, in Jepsen's terms.
type outcome int

const (
	outcomeOK   outcome = iota // Apply returned nil: acknowledged
	outcomeFail                // certainly had no effect (refused before it was queued)
	outcomeInfo                // indeterminate: it may or may not have taken effect
)

func (o outcome) String() string {
	return [...]string{":ok", ":fail", ":info"}[o]
}

// never is the completion time of an :info operation: it may take effect at
// any time after its invocation.
const never = math.MaxInt64

// histOp is one operation of a history. inv and ret are positions in one
// global order of invocations and completions, so a < b means a happened
// before b in real time.
type histOp struct {
	process int
	node    string
	key     string
	op      crdt.Op
	inv     int64
	ret     int64
	outcome outcome
	err     error
}

func (h histOp) String() string {
	return fmt.Sprintf("p%d %s %s %s %s %v%v by=%d [%d,%d] %s", h.process, h.node, h.key,
		h.op.Type, h.op.Kind, h.op.Path, h.op.Value, h.op.By, h.inv, h.ret, h.outcome)
}

// field names the thing an operation acts on: the key and the map path.
func (h histOp) field() string { return fieldName(h.key, h.op.Path) }

func fieldName(key string, path []string) string {
	if len(path) == 0 {
		return key
	}
	return key + "/" + strings.Join(path, "/")
}

// history records operations from concurrent writers.
type history struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []histOp
}

// apply runs op on n and records it with its outcome.
func (h *history) apply(ctx context.Context, process int, n *Node, key string, op crdt.Op) error {
	inv := h.clock.Add(1)
	_, err := n.Apply(ctx, key, op)
	ret := h.clock.Add(1)
	oc := classify(err)
	if oc == outcomeInfo {
		ret = never
	}
	h.mu.Lock()
	h.ops = append(h.ops, histOp{process: process, node: n.Name(), key: key, op: op, inv: inv, ret: ret, outcome: oc, err: err})
	h.mu.Unlock()
	return err
}

// classify says what an Apply error proves. ErrClosed comes only from a
// node that refused the request before queueing it; a refused operation
// (bad key, wrong type, invalid op) changed nothing. Anything else, a
// timeout above all, leaves the outcome open.
func classify(err error) outcome {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrClosed), errors.Is(err, ErrInvalidKey),
		errors.Is(err, crdt.ErrWrongType), errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrInvalidOp):
		return outcomeFail
	}
	return outcomeInfo
}

func (h *history) snapshot() []histOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// counts tallies outcomes.
func counts(ops []histOp) (ok, fail, info int) {
	for _, o := range ops {
		switch o.outcome {
		case outcomeOK:
			ok++
		case outcomeFail:
			fail++
		default:
			info++
		}
	}
	return
}

// byField groups a history's operations by the field they act on.
func byField(ops []histOp) map[string][]histOp {
	m := map[string][]histOp{}
	for _, o := range ops {
		m[o.field()] = append(m[o.field()], o)
	}
	return m
}

// counterVerdict checks a PN-counter. Every acknowledged inc and dec must
// count, and an indeterminate one may or may not: the value must lie in
// [lo, hi], which is one exact number when nothing was indeterminate.
type counterVerdict struct {
	field      string
	lo, hi     int64
	actual     int64
	present    bool // the field holds a counter at all
	acked, ind int
}

func (v counterVerdict) valid() bool {
	if v.acked == 0 && v.ind == 0 {
		return !v.present || v.actual == 0
	}
	return v.actual >= v.lo && v.actual <= v.hi
}

func (v counterVerdict) String() string {
	exp := fmt.Sprint(v.lo)
	if v.lo != v.hi {
		exp = fmt.Sprintf("[%d, %d]", v.lo, v.hi)
	}
	return fmt.Sprintf("counter %-12s expected %-12s actual %-6d (%d acked, %d indeterminate) :valid? %v",
		v.field, exp, v.actual, v.acked, v.ind, v.valid())
}

func checkCounter(field string, ops []histOp, actual any) counterVerdict {
	v := counterVerdict{field: field}
	if actual != nil {
		v.actual, v.present = actual.(int64)
	}
	for _, o := range ops {
		if o.op.Kind != crdt.OpInc && o.op.Kind != crdt.OpDec {
			continue
		}
		by := o.op.By
		if o.op.Kind == crdt.OpDec {
			by = -by
		}
		switch o.outcome {
		case outcomeOK:
			v.acked++
			v.lo += by
			v.hi += by
		case outcomeInfo:
			v.ind++
			if by < 0 {
				v.lo += by
			} else {
				v.hi += by
			}
		}
	}
	return v
}

// setVerdict checks an add-wins set, like Jepsen's set checker.
//
// An element is required present when some add of it was acknowledged and
// every remove of it that may have taken effect had completed before that
// add was invoked: such a remove cannot have observed the add's dot, and
// in an add-wins set nothing but a remove that observed a dot removes it.
// A remove that overlaps the add, or follows it, may have observed it, even
// on another node (a push can arrive before the writer hears its ack), so
// the element is then only allowed, not required. Removes that failed
// outright cannot have observed anything; indeterminate ones are treated
// as never completing.
//
//   - lost: required but absent;
//   - unexpected: present, yet never the subject of an add that may have
//     taken effect;
//   - ok: required and present.
type setVerdict struct {
	field      string
	ok         []int64
	lost       []int64
	unexpected []any
	present    int
	allowed    int // present, but not required
}

func (v setVerdict) valid() bool { return len(v.lost) == 0 && len(v.unexpected) == 0 }

func (v setVerdict) String() string {
	s := fmt.Sprintf("set     %-12s ok %-3d lost %-3d unexpected %-3d (present %d, of which not required %d) :valid? %v",
		v.field, len(v.ok), len(v.lost), len(v.unexpected), v.present, v.allowed, v.valid())
	if len(v.lost) > 0 {
		s += fmt.Sprintf(" lost=%v", v.lost)
	}
	if len(v.unexpected) > 0 {
		s += fmt.Sprintf(" unexpected=%v", v.unexpected)
	}
	return s
}

func checkSet(field string, ops []histOp, actual any) setVerdict {
	v := setVerdict{field: field}
	type elemOps struct{ adds, removes []histOp }
	elems := map[int64]*elemOps{}
	for _, o := range ops {
		if o.op.Kind != crdt.OpAdd && o.op.Kind != crdt.OpRemove {
			continue
		}
		if o.outcome == outcomeFail {
			continue
		}
		x := o.op.Value.Interface().(int64)
		e := elems[x]
		if e == nil {
			e = &elemOps{}
			elems[x] = e
		}
		if o.op.Kind == crdt.OpAdd {
			e.adds = append(e.adds, o)
		} else {
			e.removes = append(e.removes, o)
		}
	}
	present := map[int64]bool{}
	list, _ := actual.([]any)
	for _, x := range list {
		i, isInt := x.(int64)
		if !isInt || elems[i] == nil || len(elems[i].adds) == 0 {
			v.unexpected = append(v.unexpected, x)
			continue
		}
		present[i] = true
	}
	v.present = len(list)
	for x, e := range elems {
		required := false
		for _, a := range e.adds {
			if a.outcome != outcomeOK {
				continue
			}
			safe := true
			for _, r := range e.removes {
				if r.ret >= a.inv {
					safe = false
					break
				}
			}
			required = required || safe
		}
		switch {
		case required && present[x]:
			v.ok = append(v.ok, x)
		case required:
			v.lost = append(v.lost, x)
		case present[x]:
			v.allowed++
		}
	}
	slices.Sort(v.ok)
	slices.Sort(v.lost)
	return v
}

// registerVerdict checks an LWW register: its value must be one that some
// write that may have taken effect wrote.
type registerVerdict struct {
	field  string
	actual any
	writes int
	known  bool
}

func (v registerVerdict) valid() bool { return v.known }

func (v registerVerdict) String() string {
	return fmt.Sprintf("lww     %-12s actual %-10v (one of %d writes) :valid? %v", v.field, v.actual, v.writes, v.valid())
}

func checkRegister(field string, ops []histOp, actual any) registerVerdict {
	v := registerVerdict{field: field, actual: actual, known: actual == nil}
	for _, o := range ops {
		if o.op.Kind != crdt.OpSet || o.outcome == outcomeFail {
			continue
		}
		v.writes++
		if o.op.Value.Interface() == actual {
			v.known = true
		}
	}
	if actual == nil && v.writes > 0 {
		// Someone acknowledged a write, so the register cannot be empty.
		for _, o := range ops {
			if o.op.Kind == crdt.OpSet && o.outcome == outcomeOK {
				v.known = false
			}
		}
	}
	return v
}

// verdict is one line of a checker's report.
type verdict interface {
	valid() bool
	String() string
}

// checkState checks one node's final state against the history: every
// field the history touched, read from values, the node's plain values by
// key. Map fields are found by walking the path.
func checkState(ops []histOp, values map[string]any) []verdict {
	var out []verdict
	fields := byField(ops)
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	slices.Sort(names)
	for _, f := range names {
		fops := fields[f]
		first := fops[0]
		actual := lookup(values[first.key], first.op.Path)
		switch first.op.Type {
		case crdt.TypePNCounter, crdt.TypeGCounter:
			out = append(out, checkCounter(f, fops, actual))
		case crdt.TypeORSet:
			out = append(out, checkSet(f, fops, actual))
		case crdt.TypeLWW:
			out = append(out, checkRegister(f, fops, actual))
		}
	}
	return out
}

// lookup walks a plain map value down path.
func lookup(v any, path []string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
