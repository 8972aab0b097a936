package testkit

import (
	"fmt"
	"slices"
)

// SetVerdict checks an add-wins set, like Jepsen's set checker.
//
// An element is required present when some add of it was acknowledged and
// every remove of it that may have taken effect had completed before that
// add was invoked: such a remove cannot have observed the add's dot, and
// in an add-wins set nothing but a remove that observed a dot removes it.
// A remove that overlaps the add, or follows it, may have observed it, even
// on another node (a push can arrive before the writer hears its ack), so
// the element is then only allowed, not required. Removes that failed
// outright cannot have observed anything; indeterminate ones never
// complete. For an add-only set this is: every acknowledged add present,
// and nothing present that no add may have put there.
//
//   - Lost: required but absent;
//   - Unexpected: present, yet never the subject of an add that may have
//     taken effect;
//   - OK: required and present.
type SetVerdict struct {
	Field            string
	OK               int
	Lost, Unexpected []string
	Present          int // elements the node holds
	Allowed          int // present, but not required
	Bad              string
}

func (v SetVerdict) Valid() bool { return len(v.Lost) == 0 && len(v.Unexpected) == 0 && v.Bad == "" }

func (v SetVerdict) String() string {
	s := fmt.Sprintf("set     %-12s ok %-5d lost %-3d unexpected %-3d (present %d, of which not required %d) :valid? %v",
		v.Field, v.OK, len(v.Lost), len(v.Unexpected), v.Present, v.Allowed, v.Valid())
	if v.Bad != "" {
		s += " " + v.Bad
	}
	if len(v.Lost) > 0 {
		s += " lost=" + firstFew(v.Lost)
	}
	if len(v.Unexpected) > 0 {
		s += " unexpected=" + firstFew(v.Unexpected)
	}
	return s
}

// firstFew lists up to 20 elements and counts the rest.
func firstFew(xs []string) string {
	if len(xs) <= 20 {
		return fmt.Sprint(xs)
	}
	return fmt.Sprintf("%v and %d more", xs[:20], len(xs)-20)
}

// CheckSet judges actual, a node's elements of field (a []any or a
// []string; present false when the node does not hold the set), against
// the add and remove operations of ops on field.
func CheckSet(field string, ops []Op, actual any, present bool) SetVerdict {
	v := SetVerdict{Field: field}
	type elemOps struct{ adds, removes []Op }
	elems := map[string]*elemOps{}
	for _, o := range ops {
		if o.Field != field || (o.Kind != Add && o.Kind != Remove) || o.Outcome == Fail {
			continue
		}
		k := valueKey(o.Value)
		e := elems[k]
		if e == nil {
			e = &elemOps{}
			elems[k] = e
		}
		if o.Kind == Add {
			e.adds = append(e.adds, o)
		} else {
			e.removes = append(e.removes, o)
		}
	}
	var list []any
	switch xs := actual.(type) {
	case nil:
	case []any:
		list = xs
	case []string:
		for _, x := range xs {
			list = append(list, x)
		}
	default:
		if present {
			v.Bad = fmt.Sprintf("the field holds %T, not a set", actual)
		}
	}
	held := map[string]bool{}
	for _, x := range list {
		k := valueKey(x)
		if e := elems[k]; e == nil || len(e.adds) == 0 {
			v.Unexpected = append(v.Unexpected, k)
			continue
		}
		held[k] = true
	}
	v.Present = len(list)
	for k, e := range elems {
		required := false
		for _, a := range e.adds {
			if a.Outcome != OK {
				continue
			}
			safe := true
			for _, r := range e.removes {
				if r.Ret >= a.Inv {
					safe = false
					break
				}
			}
			required = required || safe
		}
		switch {
		case required && held[k]:
			v.OK++
		case required:
			v.Lost = append(v.Lost, k)
		case held[k]:
			v.Allowed++
		}
	}
	slices.Sort(v.Lost)
	slices.Sort(v.Unexpected)
	return v
}
