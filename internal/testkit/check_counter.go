package testkit

import "fmt"

// CounterVerdict checks a PN-counter. Every acknowledged inc and dec must
// count and every failed one must not; an indeterminate one may or may
// not. So the value lies in [Lo, Hi], one number when nothing was
// indeterminate. A node that does not hold the counter at all is wrong
// once any operation on it was acknowledged, even when 0 is within the
// bounds: the acknowledged write is lost.
type CounterVerdict struct {
	Field                        string
	Lo, Hi, Actual               int64
	Present                      bool   // the node holds the field
	Bad                          string // the field holds something else than a number
	Acked, Indeterminate, Failed int
}

func (v CounterVerdict) Valid() bool {
	switch {
	case v.Bad != "":
		return false
	case !v.Present:
		return v.Acked == 0
	}
	return v.Lo <= v.Actual && v.Actual <= v.Hi
}

func (v CounterVerdict) String() string {
	exp := fmt.Sprint(v.Lo)
	if v.Lo != v.Hi {
		exp = fmt.Sprintf("[%d, %d]", v.Lo, v.Hi)
	}
	act := fmt.Sprint(v.Actual)
	switch {
	case v.Bad != "":
		act = v.Bad
	case !v.Present:
		act = "missing"
	}
	return fmt.Sprintf("counter %-12s expected %-12s actual %-8s (%d acked, %d indeterminate, %d failed) :valid? %v",
		v.Field, exp, act, v.Acked, v.Indeterminate, v.Failed, v.Valid())
}

// CheckCounter judges actual, a node's value of field (present false when
// the node does not hold it), against the inc and dec operations of ops on
// field.
func CheckCounter(field string, ops []Op, actual any, present bool) CounterVerdict {
	v := CounterVerdict{Field: field, Present: present && actual != nil}
	if v.Present {
		n, ok := asInt64(actual)
		if !ok {
			v.Bad = fmt.Sprintf("%v (%T, not a count)", actual, actual)
		}
		v.Actual = n
	}
	for _, o := range ops {
		if o.Field != field || (o.Kind != Inc && o.Kind != Dec) {
			continue
		}
		by := o.By
		if o.Kind == Dec {
			by = -by
		}
		switch o.Outcome {
		case OK:
			v.Acked++
			v.Lo += by
			v.Hi += by
		case Info:
			v.Indeterminate++
			if by < 0 {
				v.Lo += by
			} else {
				v.Hi += by
			}
		default:
			v.Failed++
		}
	}
	return v
}
