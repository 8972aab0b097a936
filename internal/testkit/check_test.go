package testkit

import (
	"strings"
	"testing"
)

// op builds an operation for a hand-made history: inv and ret are both
// positions and wall milliseconds; ret Never for an indeterminate one.
func op(kind Kind, field string, arg any, inv, ret int64, oc Outcome) Op {
	o := Op{Field: field, Kind: kind, Inv: inv, Ret: ret, InvWall: inv, RetWall: ret, Outcome: oc}
	if kind == Inc || kind == Dec {
		o.By = arg.(int64)
	} else {
		o.Value = arg
	}
	if oc == Info {
		o.Ret, o.RetWall = Never, Never
	}
	return o
}

// Each checker accepts a history it should and rejects histories built to
// break it: a checker that never fails proves nothing.
func TestCheckersRejectBadHistories(t *testing.T) {
	counterOps := []Op{
		op(Inc, "c", int64(3), 1, 2, OK),
		op(Dec, "c", int64(3), 3, 4, OK),   // the acked sum is 0
		op(Inc, "c", int64(5), 5, 0, Info), // may count
		op(Inc, "c", int64(7), 6, 7, Fail), // must not
	}
	setOps := []Op{
		op(Add, "s", int64(1), 1, 2, OK),
		op(Add, "s", int64(2), 3, 4, OK),
		op(Remove, "s", int64(2), 3, 6, OK), // overlaps the add: 2 may go
		op(Remove, "s", int64(3), 1, 2, OK), // before the add of 3: 3 must stay
		op(Add, "s", int64(3), 5, 6, OK),
		op(Add, "s", int64(4), 7, 0, Info),
		op(Add, "s", int64(5), 7, 8, Fail),
	}
	regOps := []Op{
		op(Set, "r", "old", 1, 2, OK),
		op(Set, "r", "a", 100, 104, OK), // a and b overlap: either may win
		op(Set, "r", "b", 102, 103, OK),
		op(Set, "r", "lost", 101, 102, Fail),
		op(Set, "r", "maybe", 50, 0, Info), // never completes: may win
	}
	cases := []struct {
		name   string
		check  func() Verdict
		valid  bool
		reason string // in String() when invalid
	}{
		{"counter exact", func() Verdict { return CheckCounter("c", counterOps, int64(0), true) }, true, ""},
		{"counter with the indeterminate inc", func() Verdict { return CheckCounter("c", counterOps, int64(5), true) }, true, ""},
		{"counter counts a failed inc", func() Verdict { return CheckCounter("c", counterOps, int64(7), true) }, false, "actual 7"},
		{"counter loses an acked inc", func() Verdict { return CheckCounter("c", counterOps, int64(-3), true) }, false, "actual -3"},
		{"counter missing although 0 is in bounds", func() Verdict { return CheckCounter("c", counterOps, nil, false) }, false, "missing"},
		{"counter missing with only an indeterminate inc", func() Verdict {
			return CheckCounter("c", counterOps[2:3], nil, false)
		}, true, ""},
		{"counter holds a string", func() Verdict { return CheckCounter("c", counterOps, "0", true) }, false, "not a count"},
		{"counter from JSON", func() Verdict { return CheckCounter("c", counterOps, float64(5), true) }, true, ""},

		{"set as required", func() Verdict { return CheckSet("s", setOps, []any{int64(1), int64(3)}, true) }, true, ""},
		{"set with the allowed ones", func() Verdict {
			return CheckSet("s", setOps, []any{int64(1), int64(2), int64(3), float64(4)}, true)
		}, true, ""},
		{"set loses an acked add", func() Verdict { return CheckSet("s", setOps, []any{int64(3)}, true) }, false, "lost=[1]"},
		{"set loses an add a remove could not have seen", func() Verdict {
			return CheckSet("s", setOps, []any{int64(1)}, true)
		}, false, "lost=[3]"},
		{"set holds a failed add", func() Verdict {
			return CheckSet("s", setOps, []any{int64(1), int64(3), int64(5)}, true)
		}, false, "unexpected=[5]"},
		{"set holds what nobody added", func() Verdict {
			return CheckSet("s", setOps, []any{int64(1), int64(3), int64(9)}, true)
		}, false, "unexpected=[9]"},
		{"set missing", func() Verdict { return CheckSet("s", setOps, nil, false) }, false, "lost=[1 3]"},
		{"set holds a counter", func() Verdict { return CheckSet("s", setOps, int64(2), true) }, false, "not a set"},

		{"register holds one of the last writes", func() Verdict { return CheckRegister("r", regOps, "a", true, 0) }, true, ""},
		{"register holds the other", func() Verdict { return CheckRegister("r", regOps, "b", true, 0) }, true, ""},
		{"register holds the indeterminate write", func() Verdict { return CheckRegister("r", regOps, "maybe", true, 0) }, true, ""},
		{"register holds a superseded write", func() Verdict { return CheckRegister("r", regOps, "old", true, 0) }, false, "actual old"},
		{"register holds a failed write", func() Verdict { return CheckRegister("r", regOps, "lost", true, 0) }, false, "actual lost"},
		{"register holds what nobody wrote", func() Verdict { return CheckRegister("r", regOps, "x", true, 0) }, false, "actual x"},
		{"register empty after acked writes", func() Verdict { return CheckRegister("r", regOps, nil, false, 0) }, false, "missing"},
		{"register old within the skew bound", func() Verdict { return CheckRegister("r", regOps, "old", true, 100) }, true, ""},
	}
	for _, c := range cases {
		v := c.check()
		if v.Valid() != c.valid {
			t.Errorf("%s: valid %v, want %v: %s", c.name, v.Valid(), c.valid, v)
			continue
		}
		if !c.valid && !strings.Contains(v.String(), c.reason) {
			t.Errorf("%s: the verdict does not say %q: %s", c.name, c.reason, v)
		}
		if !c.valid && !strings.Contains(v.String(), ":valid? false") {
			t.Errorf("%s: the verdict does not say it is invalid: %s", c.name, v)
		}
	}
}

// Check routes each field to its checker and reads fields it is told
// about only.
func TestCheckRoutesFields(t *testing.T) {
	ops := []Op{
		op(Inc, "k/c", int64(2), 1, 2, OK),
		op(Add, "k/s", "x", 3, 4, OK),
		op(Set, "r", "v", 5, 6, OK),
	}
	state := map[string]any{"k/c": int64(2), "k/s": []any{"x"}}
	vs := Check(ops, 0, func(f string) (any, bool) { v, ok := state[f]; return v, ok })
	if len(vs) != 3 {
		t.Fatalf("%d verdicts, want 3", len(vs))
	}
	want := []struct {
		prefix string
		valid  bool
	}{{"counter k/c", true}, {"set     k/s", true}, {"lww     r", false}}
	for i, w := range want {
		if !strings.HasPrefix(vs[i].String(), w.prefix) || vs[i].Valid() != w.valid {
			t.Errorf("verdict %d: %s, want %q valid %v", i, vs[i], w.prefix, w.valid)
		}
	}
}

// History.Do orders invocations and completions, and leaves an
// indeterminate operation open.
func TestHistoryDo(t *testing.T) {
	var h History
	wall := int64(1000)
	h.Now = func() int64 { wall++; return wall }
	_ = h.Do(Op{Field: "c", Kind: Inc, By: 1}, func() (Outcome, error) { return OK, nil })
	_ = h.Do(Op{Field: "c", Kind: Inc, By: 1}, func() (Outcome, error) { return Info, errTest })
	ops := h.Ops()
	if len(ops) != 2 || h.Len() != 2 {
		t.Fatalf("ops %v", ops)
	}
	if a, b := ops[0], ops[1]; a.Inv != 1 || a.Ret != 2 || a.InvWall != 1001 || a.RetWall != 1002 ||
		b.Inv != 3 || b.Ret != Never || b.RetWall != Never || b.Err != "test" {
		t.Errorf("ops %v / %+v", ops, ops)
	}
	if ok, fail, info := Tally(ops); ok != 1 || fail != 0 || info != 1 {
		t.Errorf("tally %d %d %d", ok, fail, info)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("test")
