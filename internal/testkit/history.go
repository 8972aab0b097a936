package testkit

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Outcome is how an operation ended as its client saw it, in Jepsen's
// terms.
type Outcome int

const (
	OK   Outcome = iota // acknowledged: it took effect, durably
	Fail                // certainly had no effect (refused, or never sent)
	Info                // indeterminate: it may or may not have taken effect
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return ":ok"
	case Fail:
		return ":fail"
	case Info:
		return ":info"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Kind is what an operation does; it also says which checker judges its
// field: inc and dec a counter, add and remove a set, set a register.
type Kind string

const (
	Inc    Kind = "inc"
	Dec    Kind = "dec"
	Add    Kind = "add"
	Remove Kind = "remove"
	Set    Kind = "set"
)

// Never is the completion time of an indeterminate operation: it may take
// effect at any time after its invocation.
const Never = math.MaxInt64

// Op is one operation of a history.
type Op struct {
	Process int    // the writer that issued it
	Node    string // the node it was sent to
	Field   string // what it acts on: a key, or a key and a path in it
	Kind    Kind
	Value   any   // add, remove, set: a comparable value
	By      int64 // inc, dec: a positive amount

	// Inv and Ret are positions in one order of every invocation and
	// completion of the history, so a.Ret < b.Inv means a completed
	// before b began. InvWall and RetWall are the wall clock then, in
	// milliseconds, which is what last-writer-wins registers order by.
	// An indeterminate operation has Ret and RetWall Never.
	Inv, Ret         int64
	InvWall, RetWall int64

	Outcome Outcome
	Err     string // the error or refusal, if any
}

func (o Op) String() string {
	arg := fmt.Sprint(o.Value)
	if o.Kind == Inc || o.Kind == Dec {
		arg = fmt.Sprint(o.By)
	}
	ret := fmt.Sprint(o.Ret)
	if o.Ret == Never {
		ret = "∞"
	}
	s := fmt.Sprintf("p%d %s %s %s %s [%d,%s] %s", o.Process, o.Node, o.Field, o.Kind, arg, o.Inv, ret, o.Outcome)
	if o.Err != "" {
		s += " (" + o.Err + ")"
	}
	return s
}

// History records the operations of concurrent writers. The zero value is
// ready to use, with the wall clock; set Now first to use another clock.
type History struct {
	Now func() int64 // wall clock in milliseconds; nil is time.Now

	mu    sync.Mutex
	clock int64
	ops   []Op
}

func (h *History) tick() (pos, wall int64) {
	now := h.Now
	if now == nil {
		now = func() int64 { return time.Now().UnixMilli() }
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clock++
	return h.clock, now()
}

// Do records op around f, which performs it and says how it ended. It
// fills in op's times and outcome, and returns f's error.
func (h *History) Do(op Op, f func() (Outcome, error)) error {
	op.Inv, op.InvWall = h.tick()
	outcome, err := f()
	op.Ret, op.RetWall = h.tick()
	if outcome == Info {
		op.Ret, op.RetWall = Never, Never
	}
	op.Outcome = outcome
	if err != nil {
		op.Err = err.Error()
	}
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	return err
}

// Mark is a position in the history's order, between the operations
// completed before it and those invoked after it: a test marks when a
// fault began, to ask later what happened before and after.
func (h *History) Mark() int64 {
	pos, _ := h.tick()
	return pos
}

// Len is how many operations have completed.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Ops is a copy of the operations so far, in order of completion.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// Tally counts a history's outcomes.
func Tally(ops []Op) (ok, fail, info int) {
	for _, o := range ops {
		switch o.Outcome {
		case OK:
			ok++
		case Fail:
			fail++
		default:
			info++
		}
	}
	return ok, fail, info
}

// ByField groups operations by the field they act on.
func ByField(ops []Op) map[string][]Op {
	m := map[string][]Op{}
	for _, o := range ops {
		m[o.Field] = append(m[o.Field], o)
	}
	return m
}
