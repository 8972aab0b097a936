package testkit

import (
	"fmt"
	"slices"
)

// RegisterVerdict checks a last-writer-wins register. Once the nodes have
// converged its value must be one of the last writes: a write that may
// have taken effect and that no acknowledged write certainly superseded.
//
// Write b certainly supersedes write a when b was invoked more than the
// clock skew bound after a completed, by the wall clock in milliseconds:
// a's hybrid timestamp is at most the latest wall clock any node had read
// when a completed (plus the skew), and b's at least its own node's wall
// clock when b began, so b's is greater. Writes closer than that in time
// are concurrent for the register, whatever their real-time order: the
// hybrid clock counts milliseconds, and a node that has not yet heard of
// the other write may stamp its own lower. An indeterminate write never
// completes, so nothing certainly supersedes it; a failed one never took
// effect. A register that any write was acknowledged on must not be
// empty.
type RegisterVerdict struct {
	Field      string
	Actual     any
	Present    bool
	Writes     int      // writes that may have taken effect
	Candidates []string // the values the register may end with
	valid      bool
}

func (v RegisterVerdict) Valid() bool { return v.valid }

func (v RegisterVerdict) String() string {
	act := fmt.Sprint(v.Actual)
	if !v.Present {
		act = "missing"
	}
	return fmt.Sprintf("lww     %-12s actual %-10s (one of %s, the last of %d writes) :valid? %v",
		v.Field, act, firstFew(v.Candidates), v.Writes, v.valid)
}

// CheckRegister judges actual, a node's value of field (present false when
// the node does not hold it), against the set operations of ops on field;
// skewMillis bounds how far apart the nodes' wall clocks are.
func CheckRegister(field string, ops []Op, actual any, present bool, skewMillis int64) RegisterVerdict {
	v := RegisterVerdict{Field: field, Actual: actual, Present: present && actual != nil}
	var writes, acked []Op
	for _, o := range ops {
		if o.Field != field || o.Kind != Set || o.Outcome == Fail {
			continue
		}
		writes = append(writes, o)
		if o.Outcome == OK {
			acked = append(acked, o)
		}
	}
	v.Writes = len(writes)
	seen := map[string]bool{}
	for _, w := range writes {
		superseded := false
		for _, b := range acked {
			if w.RetWall != Never && b.InvWall > w.RetWall+skewMillis {
				superseded = true
				break
			}
		}
		if k := valueKey(w.Value); !superseded && !seen[k] {
			seen[k] = true
			v.Candidates = append(v.Candidates, k)
		}
	}
	slices.Sort(v.Candidates)
	if !v.Present {
		v.valid = len(acked) == 0
		return v
	}
	v.valid = seen[valueKey(actual)]
	return v
}
