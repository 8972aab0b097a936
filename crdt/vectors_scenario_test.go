package crdt_test

import (
	"encoding/json"
	"fmt"
	"strings"
)

// How vectors are written by hand: vecScenario and the step helpers
// (vAt, vDeliver, vSync, ...) the per-type vector files use.

// vecScenario is a vector as written by hand: the steps and the plain
// value each replica must end with. The states are computed.
type vecScenario struct {
	name, description string
	replicas          string // one letter per replica: "abc"
	steps             []vecStep
	want              map[string]string // replica -> plain value as JSON
	converged         string            // replicas that must end identical
}

func (sc vecScenario) vector() (*vecFile, error) {
	v := &vecFile{
		Name: sc.name, Description: sc.description,
		Replicas: map[string]string{}, Steps: sc.steps, Expect: map[string]vecExpect{},
	}
	for _, r := range strings.Split(sc.replicas, "") {
		v.Replicas[r] = vecIDs[r]
	}
	if sc.converged != "" {
		v.Converged = strings.Split(sc.converged, "")
	}
	objs, err := vecReplay(v)
	if err != nil {
		return nil, err
	}
	if len(sc.want) != len(v.Replicas) {
		return nil, fmt.Errorf("values stated for %d of %d replicas", len(sc.want), len(v.Replicas))
	}
	for r, value := range sc.want {
		o, ok := objs[r]
		if !ok {
			return nil, fmt.Errorf("value stated for unknown replica %q", r)
		}
		state, err := o.MarshalJSON()
		if err != nil {
			return nil, err
		}
		if !json.Valid([]byte(value)) {
			return nil, fmt.Errorf("replica %s: stated value %s is not JSON", r, value)
		}
		v.Expect[r] = vecExpect{Value: json.RawMessage(value), State: state}
	}
	return v, nil
}

func vecSteps(parts ...any) []vecStep {
	var out []vecStep
	for _, p := range parts {
		switch p := p.(type) {
		case vecStep:
			out = append(out, p)
		case []vecStep:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("vecSteps: %T", p))
		}
	}
	return out
}

// vAt applies op at replica r at physical time wall; delta names the
// delta for later deliveries ("" to drop it).
func vAt(r string, wall int64, op, delta string) vecStep {
	return vAtL(r, wall, 0, op, delta)
}

func vAtL(r string, wall int64, logical uint32, op, delta string) vecStep {
	return vecStep{At: r, Time: &vecTime{Wall: wall, Logical: logical}, Op: json.RawMessage(op), Delta: delta}
}

// vFail applies op at r and expects it to fail with code.
func vFail(r string, wall int64, op, code string) vecStep {
	return vecStep{At: r, Time: &vecTime{Wall: wall}, Op: json.RawMessage(op), Error: code}
}

// vDeliver delivers delta to each replica in to ("bcd"), in order.
func vDeliver(delta string, to string) []vecStep {
	var out []vecStep
	for _, r := range strings.Split(to, "") {
		out = append(out, vecStep{Deliver: delta, To: r})
	}
	return out
}

// vDeliverAll delivers each delta in deltas ("d1 d2"), in order, to each
// replica in to.
func vDeliverAll(deltas string, to string) []vecStep {
	var out []vecStep
	for _, d := range strings.Fields(deltas) {
		out = append(out, vDeliver(d, to)...)
	}
	return out
}

// vSync joins from's whole state into each replica in to.
func vSync(from string, to string) []vecStep {
	var out []vecStep
	for _, r := range strings.Split(to, "") {
		out = append(out, vecStep{Sync: from, To: r})
	}
	return out
}

// vSame states one value for every replica in rs.
func vSame(value, rs string) map[string]string {
	m := map[string]string{}
	for _, r := range strings.Split(rs, "") {
		m[r] = value
	}
	return m
}

// Operations the scenarios use often.
const (
	opGInc1   = `{"type":"gcounter","op":"inc"}`
	opSetAddX = `{"type":"set","op":"add","value":"x"}`
	opSetRmX  = `{"type":"set","op":"remove","value":"x"}`
	opEnable  = `{"type":"flag","op":"enable"}`
	opDisable = `{"type":"flag","op":"disable"}`
)
