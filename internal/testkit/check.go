package testkit

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Verdict is a checker's finding about one field on one node.
type Verdict interface {
	Valid() bool
	String() string
}

// Check judges every field the history touched against one node's final
// state: read returns the node's value of a field and whether it holds
// the field at all. The first operation on a field picks its checker
// (inc and dec: CheckCounter; add and remove: CheckSet; set:
// CheckRegister). skewMillis bounds how far apart the nodes' wall clocks
// may be (0 when they share one). Verdicts come in field order.
func Check(ops []Op, skewMillis int64, read func(field string) (value any, present bool)) []Verdict {
	fields := ByField(ops)
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	slices.Sort(names)
	var out []Verdict
	for _, f := range names {
		fops := fields[f]
		actual, present := read(f)
		switch fops[0].Kind {
		case Inc, Dec:
			out = append(out, CheckCounter(f, fops, actual, present))
		case Add, Remove:
			out = append(out, CheckSet(f, fops, actual, present))
		case Set:
			out = append(out, CheckRegister(f, fops, actual, present, skewMillis))
		}
	}
	return out
}

// valueKey is the identity of a value for the checkers: an element as a
// writer sent it and as a node reads it back (an int64 in Go, a float64
// from JSON) compare equal.
func valueKey(v any) string {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return fmt.Sprint(int64(x))
		}
	case json.Number:
		return x.String()
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

// asInt64 reads a counter's value as a node reports it.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float64:
		return int64(x), x == math.Trunc(x) && math.Abs(x) < 1<<53
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	}
	return 0, false
}
