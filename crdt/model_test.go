package crdt_test

import (
	"bytes"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// Reference models. Each says what a converged replica must read, computed
// from the history alone: which operations happened where, and which
// deltas each replica had joined when it made its own (the world's seen
// sets, kept by the simulation's delivery bookkeeping, not read from any
// causal context).

// drawRepairedWorld runs a history of one type and repairs it one way or
// the other, so every replica has every delta.
func drawRepairedWorld(t *rapid.T, typ crdt.Type) *world {
	w := newWorld(t)
	w.run(t, genOp(typ, false), 4, 40)
	w.flush(t)
	if rapid.Bool().Draw(t, "anti-entropy") {
		w.antiEntropy(t)
	} else {
		w.redeliverLost(t)
	}
	requireConverged(t, w)
	return w
}

// requireValue checks every replica's plain value.
func requireValue(t *rapid.T, w *world, want any) {
	t.Helper()
	for i, st := range w.states {
		if got := st.Value(); !reflect.DeepEqual(got, want) {
			t.Fatalf("replica %d reads %#v, the model says %#v", i, got, want)
		}
	}
}

// survivors returns the events that no other event on the same target
// observed. That is observed-remove semantics: a remove, a disable or a
// new write supersedes exactly what its replica had seen, and an add or
// enable concurrent with it lives on. sameTarget says which events act on
// the same element or register.
func survivors(w *world, sameTarget func(a, b *event) bool) []*event {
	var out []*event
	for id, a := range w.events {
		alive := true
		for _, e := range w.events {
			if e != a && e.seen[id] && sameTarget(a, e) {
				alive = false
				break
			}
		}
		if alive {
			out = append(out, a)
		}
	}
	return out
}

func TestCounterModel(t *testing.T) {
	for _, typ := range []crdt.Type{crdt.TypeGCounter, crdt.TypePNCounter} {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				w := drawRepairedWorld(t, typ)
				var sum int64
				for _, ev := range w.events {
					if ev.op.Kind == crdt.OpDec {
						sum -= ev.op.By
					} else {
						sum += ev.op.By
					}
				}
				var want any = sum
				if len(w.events) == 0 {
					want = nil
				}
				requireValue(t, w, want)
			})
		})
	}
}

// valueSet turns a plain set or multi-value register reading into a set,
// failing on a repeated element.
func valueSet(t *rapid.T, plain any) map[crdt.Value]bool {
	t.Helper()
	list, ok := plain.([]any)
	if !ok {
		t.Fatalf("reading is %T, not a list", plain)
	}
	set := map[crdt.Value]bool{}
	for _, x := range list {
		v, err := crdt.ValueOf(x)
		if err != nil {
			t.Fatalf("element %#v: %v", x, err)
		}
		if set[v] {
			t.Fatalf("element %v listed twice in %v", v, list)
		}
		set[v] = true
	}
	return set
}

func TestSetModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawRepairedWorld(t, crdt.TypeORSet)
		sameElem := func(a, b *event) bool { return a.op.Value == b.op.Value }
		want := map[crdt.Value]bool{}
		for _, ev := range survivors(w, sameElem) {
			if ev.op.Kind == crdt.OpAdd {
				want[ev.op.Value] = true
			}
		}
		for i, st := range w.states {
			if got := valueSet(t, st.Value()); !reflect.DeepEqual(got, want) {
				t.Fatalf("replica %d holds %v, the add-wins model says %v", i, got, want)
			}
		}
	})
}

func TestFlagModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawRepairedWorld(t, crdt.TypeEWFlag)
		anyTarget := func(a, b *event) bool { return true }
		var want any
		if len(w.events) > 0 {
			enabled := false
			for _, ev := range survivors(w, anyTarget) {
				enabled = enabled || ev.op.Kind == crdt.OpEnable
			}
			want = enabled
		}
		requireValue(t, w, want)
	})
}

func TestMVRegisterModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawRepairedWorld(t, crdt.TypeMVRegister)
		anyTarget := func(a, b *event) bool { return true }
		want := map[crdt.Value]bool{}
		for _, ev := range survivors(w, anyTarget) {
			want[ev.op.Value] = true
		}
		if len(w.events) == 0 {
			requireValue(t, w, nil)
			return
		}
		for i, st := range w.states {
			if got := valueSet(t, st.Value()); !reflect.DeepEqual(got, want) {
				t.Fatalf("replica %d holds %v, the model says %v", i, got, want)
			}
		}
	})
}

// lwwStamp is what orders last-writer-wins writes: the timestamp the delta
// carries, then the writer's id, then its sequence.
type lwwStamp struct {
	ts  crdt.Timestamp
	dot crdt.Dot
}

func (a lwwStamp) less(b lwwStamp) bool {
	if c := a.ts.Compare(b.ts); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.dot.Replica[:], b.dot.Replica[:]); c != 0 {
		return c < 0
	}
	return a.dot.Seq < b.dot.Seq
}

// stampOf reads the one entry a register write's delta carries.
func stampOf(t *rapid.T, ev *event) lwwStamp {
	t.Helper()
	es, err := ev.delta.Leaf(crdt.Path{Root: crdt.TypeLWW}.Key())
	if err != nil || len(es) != 1 {
		t.Fatalf("a write's delta holds %v (%v), not one entry", es, err)
	}
	return lwwStamp{ts: es[0].TS, dot: es[0].Dot}
}

func TestLWWModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawRepairedWorld(t, crdt.TypeLWW)
		if len(w.events) == 0 {
			requireValue(t, w, nil)
			return
		}
		stamps := make([]lwwStamp, len(w.events))
		best := 0
		for id, ev := range w.events {
			stamps[id] = stampOf(t, ev)
			if stamps[id].ts.Compare(ev.now) < 0 {
				t.Fatalf("write %d carries %v, before its clock's %v", id, stamps[id].ts, ev.now)
			}
			if stamps[best].less(stamps[id]) {
				best = id
			}
			// However far behind its clock, a write beats what its
			// replica had seen: the hybrid clock's promise.
			for seen := range ev.seen {
				if !stamps[seen].less(stamps[id]) {
					t.Fatalf("write %d (%v) does not beat write %d (%v) it had seen",
						id, stamps[id], seen, stamps[seen])
				}
			}
		}
		requireValue(t, w, w.events[best].op.Value.Interface())
	})
}
