package crdt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// Conformance vectors: scripted multi-replica scenarios that every
// implementation of the data model (this package, the JavaScript client)
// replays and must end in the same plain values and byte-identical
// canonical states. testdata/vectors/README.md documents the format.

var updateVectors = flag.Bool("update", false, "rewrite testdata/vectors from the scenarios in vectors_test.go")

const (
	vecDir = "testdata/vectors"
	// vecMin guards against the folder being emptied or mislaid: the
	// JavaScript client relies on this many scenarios.
	vecMin = 40
)

// vecIDs are the replicas every vector may use, in byte order a < b < c <
// d, so last-writer-wins ties are easy to reason about.
var vecIDs = map[string]string{
	"a": "00000000-0000-4000-8000-00000000000a",
	"b": "00000000-0000-4000-8000-00000000000b",
	"c": "00000000-0000-4000-8000-00000000000c",
	"d": "00000000-0000-4000-8000-00000000000d",
}

type vecFile struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Replicas    map[string]string    `json:"replicas"`
	Steps       []vecStep            `json:"steps"`
	Converged   []string             `json:"converged,omitempty"`
	Expect      map[string]vecExpect `json:"expect"`
}

type vecStep struct {
	At      string          `json:"at,omitempty"`
	Time    *vecTime        `json:"time,omitempty"`
	Op      json.RawMessage `json:"op,omitempty"`
	Delta   string          `json:"delta,omitempty"`
	Error   string          `json:"error,omitempty"`
	Deliver string          `json:"deliver,omitempty"`
	Sync    string          `json:"sync,omitempty"`
	To      string          `json:"to,omitempty"`
}

type vecTime struct {
	Wall    int64  `json:"wall"`
	Logical uint32 `json:"logical"`
}

type vecExpect struct {
	Value json.RawMessage `json:"value"`
	State json.RawMessage `json:"state"`
}

// vecErrorCode maps an error to the code a vector names.
func vecErrorCode(err error) string {
	switch {
	case errors.Is(err, crdt.ErrWrongType):
		return "wrong_type"
	case errors.Is(err, crdt.ErrInvalidOp):
		return "invalid_op"
	case errors.Is(err, crdt.ErrOutOfRange):
		return "out_of_range"
	case errors.Is(err, crdt.ErrInvalid), errors.Is(err, crdt.ErrLimit):
		return "invalid"
	}
	return "unexpected: " + err.Error()
}

// vecReplay runs a vector's steps and returns each replica's state. Deltas
// and synced states travel as canonical JSON, as they do to and from the
// JavaScript client, so the replay exercises the codec too.
func vecReplay(v *vecFile) (map[string]*crdt.Object, error) {
	ids := map[string]crdt.ReplicaID{}
	objs := map[string]*crdt.Object{}
	for name, s := range v.Replicas {
		id, err := uuid.Parse(s)
		if err != nil || id.String() != s {
			return nil, fmt.Errorf("replica %s: %q is not a lowercase UUID", name, s)
		}
		ids[name], objs[name] = id, crdt.NewObject()
	}
	deltas := map[string][]byte{}
	replica := func(name string) (*crdt.Object, error) {
		if o, ok := objs[name]; ok {
			return o, nil
		}
		return nil, fmt.Errorf("unknown replica %q", name)
	}
	joinJSON := func(to string, wire []byte) error {
		o, err := replica(to)
		if err != nil {
			return err
		}
		d, err := crdt.UnmarshalObjectJSON(wire)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", wire, err)
		}
		o.Join(d)
		return nil
	}
	for i, s := range v.Steps {
		var err error
		switch {
		case s.At != "" && s.Time != nil && s.Op != nil && s.Deliver == "" && s.Sync == "" && s.To == "":
			err = vecApply(objs, ids, deltas, s)
		case s.Deliver != "" && s.To != "" && s.At == "" && s.Sync == "":
			wire, ok := deltas[s.Deliver]
			if !ok {
				err = fmt.Errorf("delta %q not made yet", s.Deliver)
			} else {
				err = joinJSON(s.To, wire)
			}
		case s.Sync != "" && s.To != "" && s.At == "" && s.Deliver == "":
			var from *crdt.Object
			if from, err = replica(s.Sync); err == nil {
				var wire []byte
				if wire, err = from.MarshalJSON(); err == nil {
					err = joinJSON(s.To, wire)
				}
			}
		default:
			err = errors.New("not an op, deliver or sync step")
		}
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
	}
	return objs, nil
}

// vecApply runs one op step. A step expecting an error must get that
// error, from decoding the op or from applying it, and leave the replica
// unchanged.
func vecApply(objs map[string]*crdt.Object, ids map[string]crdt.ReplicaID, deltas map[string][]byte, s vecStep) error {
	o, ok := objs[s.At]
	if !ok {
		return fmt.Errorf("unknown replica %q", s.At)
	}
	before, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	var op crdt.Op
	var d *crdt.Object
	err = op.UnmarshalJSON(s.Op)
	if err == nil {
		d, err = o.Apply(ids[s.At], crdt.Timestamp{Wall: s.Time.Wall, Logical: s.Time.Logical}, op)
	}
	if s.Error != "" {
		if err == nil {
			return fmt.Errorf("op %s succeeded, want error %s", s.Op, s.Error)
		}
		if code := vecErrorCode(err); code != s.Error {
			return fmt.Errorf("op %s failed with %s (%v), want %s", s.Op, code, err, s.Error)
		}
		if after, _ := o.MarshalJSON(); !bytes.Equal(before, after) {
			return fmt.Errorf("failed op %s changed the state:\n%s\n%s", s.Op, before, after)
		}
		if s.Delta != "" {
			return fmt.Errorf("a failing step names delta %q", s.Delta)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("op %s: %w", s.Op, err)
	}
	if s.Delta != "" {
		if _, dup := deltas[s.Delta]; dup {
			return fmt.Errorf("delta %q named twice", s.Delta)
		}
		if deltas[s.Delta], err = d.MarshalJSON(); err != nil {
			return err
		}
	}
	return nil
}

// vecCanonValue is the comparable text of a plain value: decoded and
// re-encoded by encoding/json, which sorts map keys and prints numbers one
// way.
func vecCanonValue(raw []byte) (string, error) {
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return "", err
	}
	return vecCompact(x)
}

func vecCompact(x any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// vecCheck replays v and compares every replica with its expectation.
func vecCheck(v *vecFile) error {
	objs, err := vecReplay(v)
	if err != nil {
		return err
	}
	if len(v.Expect) != len(v.Replicas) {
		return fmt.Errorf("%d expectations for %d replicas", len(v.Expect), len(v.Replicas))
	}
	for name, want := range v.Expect {
		o, ok := objs[name]
		if !ok {
			return fmt.Errorf("expectation for unknown replica %q", name)
		}
		gotValue, err := json.Marshal(o.Value())
		if err != nil {
			return err
		}
		g, err1 := vecCanonValue(gotValue)
		w, err2 := vecCanonValue(want.Value)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("replica %s value: %w", name, err)
		}
		if g != w {
			return fmt.Errorf("replica %s: value %s, want %s", name, g, w)
		}
		var state bytes.Buffer
		if err := json.Compact(&state, want.State); err != nil {
			return fmt.Errorf("replica %s state: %w", name, err)
		}
		gotState, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		if !bytes.Equal(gotState, state.Bytes()) {
			return fmt.Errorf("replica %s: state\n%s\nwant\n%s", name, gotState, state.Bytes())
		}
	}
	for _, name := range v.Converged {
		first := v.Converged[0]
		if _, ok := objs[name]; !ok {
			return fmt.Errorf("converged lists unknown replica %q", name)
		}
		if !objs[name].Equal(objs[first]) {
			return fmt.Errorf("replicas %s and %s are listed as converged but differ", first, name)
		}
	}
	return nil
}

// TestVectorsGenerate replays the scenarios below, checks the plain values
// they state by hand (a mismatch is a semantic bug, not a stale file), and
// either rewrites the vector files (-update) or checks they are current.
// It runs before TestVectors, so one `go test -run TestVectors -update`
// writes the files and then replays them.
func TestVectorsGenerate(t *testing.T) {
	scenarios := vecScenarios()
	want := map[string][]byte{}
	for i, sc := range scenarios {
		file := fmt.Sprintf("%03d-%s.json", i+1, sc.name)
		v, err := sc.vector()
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if err := vecCheck(v); err != nil {
			t.Errorf("%s: the scenario does not do what it states: %v", file, err)
			continue
		}
		if want[file], err = vecFormat(v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if t.Failed() {
		return
	}
	existing, _ := filepath.Glob(filepath.Join(vecDir, "*.json"))
	if *updateVectors {
		if err := os.MkdirAll(vecDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, path := range existing {
			if _, keep := want[filepath.Base(path)]; !keep {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
		}
		for file, b := range want {
			if err := os.WriteFile(filepath.Join(vecDir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for _, file := range slices.Sorted(maps.Keys(want)) {
		b := want[file]
		disk, err := os.ReadFile(filepath.Join(vecDir, file))
		if err != nil || !bytes.Equal(disk, b) {
			t.Errorf("%s is missing or stale; run go test ./crdt/ -run TestVectors -update", file)
		}
	}
	for _, path := range existing {
		if _, ok := want[filepath.Base(path)]; !ok {
			t.Errorf("%s has no scenario in vectors_test.go", path)
		}
	}
}

// TestVectors replays every vector file as the JavaScript client will.
func TestVectors(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(vecDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < vecMin {
		t.Fatalf("%d vectors in %s, want at least %d", len(paths), vecDir, vecMin)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var v vecFile
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("parsing: %v", err)
			}
			if err := vecCheck(&v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVectorsCheckerFails makes sure the checker can fail: a vector whose
// value, state or convergence claim is wrong, or whose failing step
// succeeds, is refused.
func TestVectorsCheckerFails(t *testing.T) {
	base := vecScenario{
		name: "x", replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":2}`, "d1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","by":3}`, ""),
			vDeliver("d1", "b"),
		),
		want: map[string]string{"a": `2`, "b": `5`},
	}
	if v, err := base.vector(); err != nil || vecCheck(v) != nil {
		t.Fatalf("the unmodified vector must pass: %v %v", err, vecCheck(v))
	}
	mutate := map[string]func(v *vecFile){
		"value": func(v *vecFile) { v.Expect["b"] = vecExpect{Value: json.RawMessage(`4`), State: v.Expect["b"].State} },
		"state": func(v *vecFile) {
			v.Expect["a"] = vecExpect{Value: v.Expect["a"].Value, State: v.Expect["b"].State}
		},
		"converged": func(v *vecFile) { v.Converged = []string{"a", "b"} },
		"error": func(v *vecFile) {
			v.Steps = append(v.Steps, vecStep{At: "a", Time: &vecTime{}, Op: json.RawMessage(`{"type":"counter","op":"inc"}`), Error: "wrong_type"})
		},
		"wrong code": func(v *vecFile) {
			v.Steps = append(v.Steps, vecStep{At: "a", Time: &vecTime{}, Op: json.RawMessage(`{"type":"set","op":"add","value":1}`), Error: "invalid"})
		},
		"unknown delta":   func(v *vecFile) { v.Steps = append(v.Steps, vDeliver("d9", "a")...) },
		"missing replica": func(v *vecFile) { delete(v.Expect, "b") },
	}
	for name, m := range mutate {
		v, _ := base.vector()
		m(v)
		if err := vecCheck(v); err == nil {
			t.Errorf("%s: a wrong vector passed", name)
		}
	}
}

// vecFormat lays a vector out for people: one step per line, each state on
// one line. Any JSON reader takes it; strings are not HTML-escaped.
func vecFormat(v *vecFile) ([]byte, error) {
	var b bytes.Buffer
	line := func(indent, key string, x any, comma bool) error {
		s, err := vecCompact(x)
		if err != nil {
			return err
		}
		if key != "" {
			k, _ := vecCompact(key)
			s = k + ": " + s
		}
		b.WriteString(indent + s)
		if comma {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		return nil
	}
	b.WriteString("{\n")
	var errs []error
	errs = append(errs, line("  ", "name", v.Name, true), line("  ", "description", v.Description, true),
		line("  ", "replicas", v.Replicas, true))
	b.WriteString("  \"steps\": [\n")
	for i, s := range v.Steps {
		errs = append(errs, line("    ", "", s, i < len(v.Steps)-1))
	}
	b.WriteString("  ],\n")
	if len(v.Converged) > 0 {
		errs = append(errs, line("  ", "converged", v.Converged, true))
	}
	b.WriteString("  \"expect\": {\n")
	names := slices.Sorted(maps.Keys(v.Expect))
	for i, n := range names {
		errs = append(errs, line("    ", n, v.Expect[n], i < len(names)-1))
	}
	b.WriteString("  }\n}\n")
	return b.Bytes(), errors.Join(errs...)
}

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

// vecScenarios are the vectors, in file order. Each states by hand the
// plain value every replica must end with; descriptions say why.
func vecScenarios() []vecScenario {
	return slices.Concat(vecCounterScenarios(), vecSetScenarios(), vecRegisterScenarios(),
		vecFlagScenarios(), vecMapScenarios(), vecFailureScenarios(), vecDeliveryScenarios(),
		vecTextScenarios(), vecRangeScenarios(), vecListScenarios())
}

// vecRangeScenarios come last so that the files before them keep their
// numbers.
func vecRangeScenarios() []vecScenario {
	return []vecScenario{{
		name:        "counter-sum-overflow-refused",
		description: "Each replica's total within 2^53-1 is not enough: the sum over replicas may not pass it either, so no implementation's value wraps.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":9007199254740990}`, "a1"),
			vDeliver("a1", "b"),
			vFail("b", 1001, `{"type":"counter","op":"inc","by":2}`, "out_of_range"),
			vAt("b", 1002, `{"type":"counter","op":"inc","by":1}`, "b1"),
			vFail("b", 1003, `{"type":"counter","op":"inc","by":1}`, "out_of_range"),
			vAt("b", 1004, `{"type":"counter","op":"dec","by":5}`, "b2"),
			vDeliverAll("b1 b2", "a"),
		),
		want: vSame(`9007199254740986`, "ab"), converged: "ab",
	}}
}

func vecCounterScenarios() []vecScenario {
	return []vecScenario{{
		name:        "gcounter-increments",
		description: "Increments from two replicas add up. An inc without \"by\" adds 1.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, opGInc1, "a1"),
			vAt("a", 1001, `{"type":"gcounter","op":"inc","by":4}`, "a2"),
			vAt("b", 1000, `{"type":"gcounter","op":"inc","by":2}`, "b1"),
			vDeliverAll("a1 a2", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`7`, "ab"), converged: "ab",
	}, {
		name:        "gcounter-concurrent-three",
		description: "Three replicas increment concurrently; once every delta reaches everyone they agree on the sum.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"gcounter","op":"inc","by":2}`, "a1"),
			vAt("b", 1000, `{"type":"gcounter","op":"inc","by":3}`, "b1"),
			vAt("c", 1000, `{"type":"gcounter","op":"inc","by":5}`, "c1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"), vDeliver("c1", "ab"),
		),
		want: vSame(`10`, "abc"), converged: "abc",
	}, {
		name: "gcounter-out-of-order",
		description: "A counter entry holds its replica's running total, so a later delta counts everything before it " +
			"and an earlier delta arriving afterwards adds nothing. b gets a's deltas 3, 1, 2; c gets 2, 3; d gets 3 and 1 only " +
			"(it keeps both entries of a, and reads the latest).",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opGInc1, "a1"),
			vAt("a", 1001, `{"type":"gcounter","op":"inc","by":2}`, "a2"),
			vAt("a", 1002, `{"type":"gcounter","op":"inc","by":3}`, "a3"),
			vDeliverAll("a3 a1 a2", "b"),
			vDeliverAll("a2 a3", "c"),
			vDeliverAll("a3 a1", "d"),
		),
		want: vSame(`6`, "abcd"), converged: "abc",
	}, {
		name:        "counter-inc-dec",
		description: "A PN-counter goes down as well as up; an inc with a negative by is a decrement.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":5}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"dec","by":2}`, "a2"),
			vAt("b", 1000, `{"type":"counter","op":"dec","by":4}`, "b1"),
			vAt("b", 1001, `{"type":"counter","op":"inc","by":-1}`, "b2"),
			vDeliverAll("a1 a2", "bc"), vDeliverAll("b1 b2", "ac"),
		),
		want: vSame(`-2`, "abc"), converged: "abc",
	}, {
		name: "counter-out-of-order-concurrent",
		description: "Two writers, deltas delivered in every order: c gets each writer's later delta first, d skips a's " +
			"first delta altogether (the second carries its total). All agree on (10-3)+(-1+4).",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":10}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"dec","by":3}`, "a2"),
			vAt("b", 1000, `{"type":"counter","op":"dec","by":1}`, "b1"),
			vAt("b", 1001, `{"type":"counter","op":"inc","by":4}`, "b2"),
			vDeliverAll("a2 b2 a1 b1", "c"),
			vDeliverAll("b2 a2", "d"),
			vDeliverAll("b1 b2", "a"), vDeliverAll("a1 a2", "b"),
		),
		want: vSame(`10`, "abcd"), converged: "abcd",
	}, {
		name:        "counter-duplicate-delivery",
		description: "Delivering a delta again is harmless: each is counted once however often it arrives.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":3}`, "a1"),
			vDeliverAll("a1 a1 a1", "b"),
			vAt("a", 1001, `{"type":"counter","op":"inc","by":2}`, "a2"),
			vDeliverAll("a2 a2 a1 a2", "bc"),
			vAt("c", 1002, `{"type":"counter","op":"dec","by":1}`, "c1"),
			vDeliverAll("c1 c1", "ab"),
		),
		want: vSame(`4`, "abc"), converged: "abc",
	}, {
		name: "counter-gap-then-sync",
		description: "b misses a's second and fourth deltas, c gets nothing; a full-state sync from a repairs both. " +
			"d got the first and third only and is never repaired: it reads the third delta's running total.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc"}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"inc"}`, "a2"),
			vAt("a", 1002, `{"type":"counter","op":"inc"}`, "a3"),
			vAt("a", 1003, `{"type":"counter","op":"dec","by":5}`, "a4"),
			vDeliverAll("a1 a3", "bd"),
			vAt("b", 1004, `{"type":"counter","op":"inc","by":10}`, "b1"),
			vDeliver("b1", "a"),
			vSync("a", "bc"),
		),
		want:      map[string]string{"a": `8`, "b": `8`, "c": `8`, "d": `3`},
		converged: "abc",
	}, {
		name:        "counter-inc-zero",
		description: "Incrementing by 0 counts nothing, but it is the key's first write, so it makes the key a counter that reads 0.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":0}`, "a1"),
			vDeliver("a1", "b"),
			vFail("b", 1001, opSetAddX, "wrong_type"),
		),
		want: vSame(`0`, "ab"), converged: "ab",
	}}
}

func vecSetScenarios() []vecScenario {
	return []vecScenario{{
		name:        "set-add-remove",
		description: "Sequential adds and a remove at one replica, replayed at another.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vAt("a", 1002, opSetRmX, "a3"),
			vDeliverAll("a1 a2 a3", "b"),
		),
		want: vSame(`["y"]`, "ab"), converged: "ab",
	}, {
		name: "set-concurrent-add-remove",
		description: "Add wins: b removes x while c concurrently adds x again. b's remove covers only the add it saw, " +
			"so c's add survives everywhere.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vDeliver("a1", "bcd"),
			vAt("b", 1001, opSetRmX, "b1"),
			vAt("c", 1001, opSetAddX, "c1"),
			vDeliver("b1", "acd"), vDeliver("c1", "abd"),
		),
		want: vSame(`["x"]`, "abcd"), converged: "abcd",
	}, {
		name: "set-remove-before-add-arrives",
		description: "b removes x before a's add of x reaches it: the remove observed nothing, so it is a no-op and the " +
			"add, arriving later, stands. Delivering the no-op delta changes nothing either.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("b", 1001, opSetRmX, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`["x"]`, "abc"), converged: "abc",
	}, {
		name:        "set-observed-remove",
		description: "A remove that has seen the add removes it everywhere, whatever the order deltas arrive in at c.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, opSetRmX, "b1"),
			vDeliver("b1", "ac"), vDeliver("a1", "c"),
		),
		want: vSame(`[]`, "abc"), converged: "abc",
	}, {
		name:        "set-concurrent-removes",
		description: "Two replicas remove the same element concurrently; it is gone once, with no tombstone left in the leaves.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vDeliverAll("a1 a2", "bc"),
			vAt("b", 1002, opSetRmX, "b1"),
			vAt("c", 1002, opSetRmX, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`["y"]`, "abc"), converged: "abc",
	}, {
		name: "set-concurrent-adds-partial-remove",
		description: "a and b add x concurrently; c sees only a's add and removes x. b's add was not observed, so x stays, " +
			"held by b's dot alone.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("b", 1000, opSetAddX, "b1"),
			vDeliver("a1", "c"),
			vAt("c", 1001, opSetRmX, "c1"),
			vDeliverAll("c1 a1 b1", "d"), vDeliverAll("b1 c1", "a"), vDeliverAll("a1 c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`["x"]`, "abcd"), converged: "abcd",
	}, {
		name: "set-scalar-kinds",
		description: "Elements of every scalar kind. 1 and 1.0 are one element. The set reads in canonical order, the " +
			"order of the elements' binary encodings: null, false, true, other integers (by zigzag varint bytes), floats (by " +
			"IEEE bits), strings (by length, then bytes), then the integers 0..127 (one-byte form).",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"set","op":"add","value":"say \"hi\""}`, "s1"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1}`, "s2"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1.0}`, "s3"),
			vAt("a", 1000, `{"type":"set","op":"add","value":-100}`, "s4"),
			vAt("a", 1000, `{"type":"set","op":"add","value":128}`, "s5"),
			vAt("a", 1000, `{"type":"set","op":"add","value":-1}`, "s6"),
			vAt("a", 1000, `{"type":"set","op":"add","value":127}`, "s7"),
			vAt("a", 1000, `{"type":"set","op":"add","value":0}`, "s8"),
			vAt("a", 1000, `{"type":"set","op":"add","value":0.1}`, "s9"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1e21}`, "s10"),
			vAt("a", 1000, `{"type":"set","op":"add","value":1.5e-7}`, "s11"),
			vAt("a", 1000, `{"type":"set","op":"add","value":""}`, "s12"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"\u2028"}`, "s13"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"é"}`, "s14"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"x"}`, "s15"),
			vAt("a", 1000, `{"type":"set","op":"add","value":true}`, "s16"),
			vAt("a", 1000, `{"type":"set","op":"add","value":false}`, "s17"),
			vAt("a", 1000, `{"type":"set","op":"add","value":null}`, "s18"),
			vAt("a", 1000, `{"type":"set","op":"add","value":"</script>"}`, "s19"),
			vDeliverAll("s19 s18 s17 s16 s15 s14 s13 s12 s11 s10 s9 s8 s7 s6 s5 s4 s3 s2 s1", "b"),
		),
		want:      vSame(`[null,false,true,-1,128,-100,1.5e-7,0.1,1e21,"","x","é","\u2028","say \"hi\"","</script>",0,1,127]`, "ab"),
		converged: "ab",
	}, {
		name: "set-duplicates-and-gaps",
		description: "a adds x, adds y, removes x, adds z. b gets the fourth delta twice and the first; c gets only the " +
			"remove, and then the add it removes, which it must not resurrect. A sync from a repairs b and c. d got the " +
			"first and fourth deltas only and is never repaired.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vAt("a", 1002, opSetRmX, "a3"),
			vAt("a", 1003, `{"type":"set","op":"add","value":"z"}`, "a4"),
			vDeliverAll("a4 a4 a1", "b"),
			vDeliverAll("a3 a1", "c"),
			vDeliverAll("a1 a4", "d"),
			vSync("a", "bc"),
		),
		want:      map[string]string{"a": `["y","z"]`, "b": `["y","z"]`, "c": `["y","z"]`, "d": `["x","z"]`},
		converged: "abc",
	}, {
		name:        "set-partition-sync-both-ways",
		description: "Two replicas edit offline, then exchange full states both ways and agree.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, ""),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, ""),
			vSync("a", "b"),
			vAt("a", 1002, opSetRmX, ""),
			vAt("b", 1002, `{"type":"set","op":"remove","value":"y"}`, ""),
			vAt("b", 1003, `{"type":"set","op":"add","value":"z"}`, ""),
			vSync("a", "b"), vSync("b", "a"),
		),
		want: vSame(`["z"]`, "ab"), converged: "ab",
	}, {
		name:        "set-readd-after-remove",
		description: "An element removed and added again is present: the new add has a dot the remove never saw.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, opSetRmX, "a2"),
			vAt("a", 1002, opSetAddX, "a3"),
			vDeliverAll("a3 a2 a1", "b"), vDeliverAll("a1 a2", "c"),
		),
		want:      map[string]string{"a": `["x"]`, "b": `["x"]`, "c": `[]`},
		converged: "ab",
	}, {
		name: "set-remove-absent-noop",
		description: "Removing an element that is not there changes nothing but the type: c's remove on an empty key " +
			"makes it a set that reads [], and its delta leaves a's x alone.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, `{"type":"set","op":"remove","value":"y"}`, "a2"),
			vAt("c", 1000, opSetRmX, "c1"),
			vDeliverAll("a1 a2", "b"),
			vDeliver("c1", "ab"),
		),
		want: map[string]string{"a": `["x"]`, "b": `["x"]`, "c": `[]`}, converged: "ab",
	}}
}

func vecRegisterScenarios() []vecScenario {
	return []vecScenario{{
		name:        "lww-overwrite",
		description: "A later write replaces an earlier one, even when b receives them in reverse order.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","value":"v1"}`, "a1"),
			vAt("a", 2000, `{"type":"lww","op":"set","value":"v2"}`, "a2"),
			vDeliverAll("a2 a1", "b"),
		),
		want: vSame(`"v2"`, "ab"), converged: "ab",
	}, {
		name: "lww-clock-skew-causal",
		description: "b's wall clock is far behind (1000 against a's 10000). b has seen a's value and overwrites it: its " +
			"hybrid timestamp is bumped past a's (10000.1), so its write wins everywhere, whatever the order of arrival.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 10000, `{"type":"lww","op":"set","value":"from a"}`, "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1000, `{"type":"lww","op":"set","value":"from b"}`, "b1"),
			vDeliver("b1", "ac"), vDeliver("a1", "c"),
		),
		want: vSame(`"from b"`, "abc"), converged: "abc",
	}, {
		name: "lww-concurrent-timestamp-decides",
		description: "Concurrent writes are ordered by timestamp, not by arrival: a's write at 2000 beats b's at 1000 " +
			"at every replica.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 2000, `{"type":"lww","op":"set","value":"a"}`, "a1"),
			vAt("b", 1000, `{"type":"lww","op":"set","value":"b"}`, "b1"),
			vDeliverAll("a1 b1", "c"), vDeliverAll("b1 a1", "d"), vDeliver("b1", "a"), vDeliver("a1", "b"),
		),
		want: vSame(`"a"`, "abcd"), converged: "abcd",
	}, {
		name: "lww-tie-replica-id",
		description: "Concurrent writes with equal timestamps: the greater replica id (b over a, compared as bytes, " +
			"which is also their string order) wins everywhere.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","value":"a"}`, "a1"),
			vAt("b", 1000, `{"type":"lww","op":"set","value":"b"}`, "b1"),
			vDeliverAll("a1 b1", "c"), vDeliverAll("b1 a1", "d"), vDeliver("b1", "a"), vDeliver("a1", "b"),
		),
		want: vSame(`"b"`, "abcd"), converged: "abcd",
	}, {
		name:        "lww-tie-logical",
		description: "Equal wall times: the logical component decides before the replica id (a's 1000.5 beats b's 1000.3).",
		replicas:    "abc",
		steps: vecSteps(
			vAtL("a", 1000, 5, `{"type":"lww","op":"set","value":"a"}`, "a1"),
			vAtL("b", 1000, 3, `{"type":"lww","op":"set","value":"b"}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
		),
		want: vSame(`"a"`, "abc"), converged: "abc",
	}, {
		name: "lww-fast-clock",
		description: "c's clock runs an hour fast. Its write races a's later (in real time) write, and being concurrent " +
			"they are ordered by timestamp, so c's wins: the known price of last-writer-wins. Once a has seen c's value " +
			"its next write is bumped past it and wins, however slow a's clock.",
		replicas: "abc",
		steps: vecSteps(
			vAt("c", 3601000, `{"type":"lww","op":"set","value":"fast"}`, "c1"),
			vAt("a", 2000, `{"type":"lww","op":"set","value":"slow"}`, "a1"),
			vDeliver("a1", "bc"), vDeliver("c1", "ab"),
			vAt("a", 2100, `{"type":"lww","op":"set","value":"fixed"}`, "a2"),
			vDeliver("a2", "bc"),
		),
		want: vSame(`"fixed"`, "abc"), converged: "abc",
	}, {
		name:        "lww-scalar-values",
		description: "Registers hold any scalar, null included; writing null is a write, not a delete.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["n"],"value":null}`, "a1"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["f"],"value":-0.5}`, "a2"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["b"],"value":false}`, "a3"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["i"],"value":9007199254740991}`, "a4"),
			vAt("a", 1000, `{"type":"lww","op":"set","path":["s"],"value":"tab\there"}`, "a5"),
			vDeliverAll("a5 a4 a3 a2 a1", "b"),
		),
		want:      vSame(`{"n":null,"f":-0.5,"b":false,"i":9007199254740991,"s":"tab\there"}`, "ab"),
		converged: "ab",
	}, {
		name: "mvreg-concurrent-kept-then-overwritten",
		description: "Concurrent writes to a multi-value register are all kept (read in canonical order); a write that " +
			"has seen them all replaces them.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":1}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":2}`, "b1"),
			vDeliverAll("a1 b1", "c"),
			vAt("c", 1001, `{"type":"mvreg","op":"set","value":3}`, "c1"),
			vDeliverAll("c1 a1 b1", "d"),
			vDeliverAll("b1 c1", "a"), vDeliverAll("c1 a1", "b"),
		),
		want: vSame(`[3]`, "abcd"), converged: "abcd",
	}, {
		name:        "mvreg-concurrent-pending",
		description: "Two concurrent writes are both read, in canonical order, until someone overwrites them.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":"x"}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":0.5}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`[0.5,"x"]`, "abc"), converged: "abc",
	}, {
		name:        "mvreg-same-value",
		description: "Concurrent writes of one value keep both dots but read as that value once.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":"x"}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":"x"}`, "b1"),
			vDeliver("a1", "b"), vDeliver("b1", "a"),
		),
		want: vSame(`["x"]`, "ab"), converged: "ab",
	}, {
		name: "mvreg-partial-overwrite",
		description: "a overwrites the two values it has seen while d concurrently writes a third: a's write and d's are " +
			"kept, the overwritten ones are gone.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","value":1}`, "a1"),
			vAt("b", 1000, `{"type":"mvreg","op":"set","value":2}`, "b1"),
			vDeliver("b1", "a"),
			vAt("a", 1001, `{"type":"mvreg","op":"set","value":3}`, "a2"),
			vAt("d", 1001, `{"type":"mvreg","op":"set","value":4}`, "d1"),
			vDeliverAll("a1 b1 a2 d1", "c"), vDeliverAll("d1", "a"), vDeliverAll("a1 a2 d1", "b"), vDeliverAll("a2 b1", "d"),
		),
		want: vSame(`[3,4]`, "abcd"), converged: "abcd",
	}}
}

func vecFlagScenarios() []vecScenario {
	return []vecScenario{{
		name:        "flag-enable-wins",
		description: "b disables while c concurrently enables: enable wins, because b's disable did not see c's enable.",
		replicas:    "abcd",
		steps: vecSteps(
			vAt("a", 1000, opEnable, "a1"),
			vDeliver("a1", "bcd"),
			vAt("b", 1001, opDisable, "b1"),
			vAt("c", 1001, opEnable, "c1"),
			vDeliverAll("b1 c1", "ad"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`true`, "abcd"), converged: "abcd",
	}, {
		name:        "flag-disable-observed",
		description: "A disable that has seen every enable turns the flag off everywhere; the flag then reads false.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opEnable, "a1"),
			vAt("b", 1000, opEnable, "b1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, opDisable, "b2"),
			vDeliverAll("b2 b1", "a"), vDeliverAll("b2 a1 b1", "c"),
		),
		want: vSame(`false`, "abc"), converged: "abc",
	}, {
		name:        "flag-concurrent-disables",
		description: "Two replicas disable concurrently after seeing the enable: the flag is off.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opEnable, "a1"),
			vDeliver("a1", "bc"),
			vAt("b", 1001, opDisable, "b1"),
			vAt("c", 1001, opDisable, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want: vSame(`false`, "abc"), converged: "abc",
	}, {
		name:        "flag-disable-never-enabled",
		description: "Disabling a flag nobody enabled is a no-op that makes the key a flag; b's concurrent enable stands.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, opDisable, "a1"),
			vAt("b", 1000, opEnable, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ac"),
		),
		want: vSame(`true`, "abc"), converged: "abc",
	}}
}

func vecMapScenarios() []vecScenario {
	return []vecScenario{{
		name:        "map-fields",
		description: "Three replicas write three fields of different types; the map holds all of them.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","path":["views"],"by":3}`, "b1"),
			vAt("c", 1000, `{"type":"set","op":"add","path":["tags"],"value":"urgent"}`, "c1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"), vDeliver("c1", "ab"),
		),
		want: vSame(`{"title":"Plan","views":3,"tags":["urgent"]}`, "abc"), converged: "abc",
	}, {
		name:        "map-nested-maps",
		description: "Maps in maps, four levels deep, with every leaf type under them.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["cards","c1","title"],"value":"Write spec"}`, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","path":["cards","c1","tags"],"value":"urgent"}`, "a2"),
			vAt("b", 1000, `{"type":"flag","op":"enable","path":["cards","c2","done"]}`, "b1"),
			vAt("b", 1001, `{"type":"mvreg","op":"set","path":["cards","c2","owner"],"value":"ann"}`, "b2"),
			vAt("c", 1000, `{"type":"counter","op":"dec","path":["board","lists","l1","wip"],"by":2}`, "c1"),
			vAt("c", 1001, `{"type":"gcounter","op":"inc","path":["board","views"]}`, "c2"),
			vDeliverAll("a1 a2", "bc"), vDeliverAll("b1 b2", "ca"), vDeliverAll("c1 c2", "ab"),
		),
		want: vSame(`{"cards":{"c1":{"title":"Write spec","tags":["urgent"]},"c2":{"done":true,"owner":["ann"]}},`+
			`"board":{"lists":{"l1":{"wip":-2}},"views":1}}`, "abc"),
		converged: "abc",
	}, {
		name: "map-delete-vs-concurrent-update",
		description: "b deletes card c1 while c concurrently retitles it. The update wins, so c1 survives, but only with " +
			"what b's delete did not see: the old title, tags and votes are gone, the new title stays.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["cards","c1","title"],"value":"Old"}`, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","path":["cards","c1","tags"],"value":"urgent"}`, "a2"),
			vAt("a", 1002, `{"type":"counter","op":"inc","path":["cards","c1","votes"],"by":2}`, "a3"),
			vAt("a", 1003, `{"type":"lww","op":"set","path":["cards","c2","title"],"value":"Other"}`, "a4"),
			vDeliverAll("a1 a2 a3 a4", "bcd"),
			vAt("b", 1100, `{"type":"map","op":"delete","path":["cards","c1"]}`, "b1"),
			vAt("c", 1100, `{"type":"lww","op":"set","path":["cards","c1","title"],"value":"New"}`, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"), vDeliverAll("c1 b1", "d"),
		),
		want:      vSame(`{"cards":{"c1":{"title":"New"},"c2":{"title":"Other"}}}`, "abcd"),
		converged: "abcd",
	}, {
		name: "map-delete-parent-vs-deep-update",
		description: "b deletes a whole subtree while c sets a flag deep inside it: only the flag, and the maps leading " +
			"to it, remain.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["lists","l1","cards","c1","title"],"value":"T"}`, "a1"),
			vAt("a", 1001, `{"type":"lww","op":"set","path":["lists","l2","name"],"value":"Done"}`, "a2"),
			vAt("a", 1002, `{"type":"lww","op":"set","path":["name"],"value":"Board"}`, "a3"),
			vDeliverAll("a1 a2 a3", "bc"),
			vAt("b", 1100, `{"type":"map","op":"delete","path":["lists"]}`, "b1"),
			vAt("c", 1100, `{"type":"flag","op":"enable","path":["lists","l1","cards","c1","done"]}`, "c1"),
			vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"), vDeliver("b1", "c"),
		),
		want:      vSame(`{"lists":{"l1":{"cards":{"c1":{"done":true}}}},"name":"Board"}`, "abc"),
		converged: "abc",
	}, {
		name:        "map-delete-then-recreate",
		description: "A deleted field can be created again, even with another type; a replica that only syncs sees the end.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["x"],"value":"text"}`, "a1"),
			vAt("a", 1001, `{"type":"map","op":"delete","path":["x"]}`, "a2"),
			vAt("a", 1002, `{"type":"counter","op":"inc","path":["x"],"by":7}`, "a3"),
			vDeliverAll("a1 a2 a3", "b"),
			vSync("a", "c"),
		),
		want: vSame(`{"x":7}`, "abc"), converged: "abc",
	}, {
		name: "map-field-type-conflict",
		description: "a makes field x a register while b concurrently makes it a counter. Both are kept, and the field " +
			"reads as the lower type number (counter 2 < lww 5). Either side may go on writing its own type; a third " +
			"type is refused.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["x"],"value":"text"}`, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","path":["x"]}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
			vAt("a", 1001, `{"type":"lww","op":"set","path":["x"],"value":"again"}`, "a2"),
			vAt("b", 1001, `{"type":"counter","op":"inc","path":["x"]}`, "b2"),
			vDeliver("a2", "bc"), vDeliver("b2", "ca"),
			vFail("c", 1002, `{"type":"flag","op":"enable","path":["x"]}`, "wrong_type"),
		),
		want: vSame(`{"x":2}`, "abc"), converged: "abc",
	}, {
		name:        "map-field-type-conflict-resolved",
		description: "After a type conflict on field x, a delete removes both versions and a new write starts afresh.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["x"],"value":"text"}`, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","path":["x"]}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
			vAt("c", 1001, `{"type":"map","op":"delete","path":["x"]}`, "c1"),
			vAt("c", 1002, `{"type":"lww","op":"set","path":["x"],"value":"resolved"}`, "c2"),
			vDeliverAll("c1 c2", "ab"),
		),
		want: vSame(`{"x":"resolved"}`, "abc"), converged: "abc",
	}, {
		name: "root-type-conflict",
		description: "Two replicas create the key concurrently with different types: both states are kept, the key " +
			"reads as the lower type number (counter 2 < set 3), and each side can still write its own type.",
		replicas: "abc",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("b", 1000, `{"type":"counter","op":"inc","by":2}`, "b1"),
			vDeliver("a1", "bc"), vDeliver("b1", "ca"),
			vAt("a", 1001, `{"type":"set","op":"add","value":"y"}`, "a2"),
			vAt("b", 1001, `{"type":"counter","op":"inc"}`, "b2"),
			vDeliver("a2", "bc"), vDeliver("b2", "ca"),
			vFail("c", 1002, `{"type":"flag","op":"enable"}`, "wrong_type"),
		),
		want: vSame(`3`, "abc"), converged: "abc",
	}, {
		name:        "map-set-field-add-wins",
		description: "A set inside a map keeps add-wins semantics: b's remove of urgent loses to c's concurrent add.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"set","op":"add","path":["tags"],"value":"urgent"}`, "a1"),
			vAt("a", 1000, `{"type":"set","op":"add","path":["tags"],"value":"later"}`, "a2"),
			vDeliverAll("a1 a2", "bc"),
			vAt("b", 1001, `{"type":"set","op":"remove","path":["tags"],"value":"urgent"}`, "b1"),
			vAt("b", 1001, `{"type":"set","op":"remove","path":["tags"],"value":"later"}`, "b2"),
			vAt("c", 1001, `{"type":"set","op":"add","path":["tags"],"value":"urgent"}`, "c1"),
			vDeliverAll("b1 b2 c1", "a"), vDeliver("c1", "b"), vDeliverAll("b2 b1", "c"),
		),
		want: vSame(`{"tags":["urgent"]}`, "abc"), converged: "abc",
	}, {
		name:        "map-flag-and-mvreg-fields",
		description: "Flags and multi-value registers behave inside a map as they do at the root.",
		replicas:    "abc",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"flag","op":"enable","path":["done"]}`, "a1"),
			vAt("a", 1000, `{"type":"mvreg","op":"set","path":["owner"],"value":"ann"}`, "a2"),
			vDeliverAll("a1 a2", "bc"),
			vAt("b", 1001, `{"type":"flag","op":"disable","path":["done"]}`, "b1"),
			vAt("b", 1001, `{"type":"mvreg","op":"set","path":["owner"],"value":"bob"}`, "b2"),
			vAt("c", 1001, `{"type":"mvreg","op":"set","path":["owner"],"value":"cat"}`, "c1"),
			vDeliverAll("b1 b2 c1", "a"), vDeliver("c1", "b"), vDeliverAll("b1 b2", "c"),
		),
		want: vSame(`{"owner":["bob","cat"]}`, "abc"), converged: "abc",
	}, {
		name: "map-delete-absent-noop",
		description: "Deleting a field that does not exist changes nothing, here or where its delta goes. Deleting " +
			"below a field that is not a map is a type error.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vAt("a", 1001, `{"type":"map","op":"delete","path":["missing"]}`, "a2"),
			vFail("a", 1001, `{"type":"map","op":"delete","path":["title","deeper"]}`, "wrong_type"),
			vDeliverAll("a2 a1 a2", "b"),
		),
		want: vSame(`{"title":"Plan"}`, "ab"), converged: "ab",
	}, {
		name:        "map-delete-every-field",
		description: "A map whose fields are all deleted is still a map, and reads as an empty object.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vAt("a", 1001, `{"type":"set","op":"add","path":["m","tags"],"value":1}`, "a2"),
			vAt("a", 1002, `{"type":"map","op":"delete","path":["title"]}`, "a3"),
			vAt("a", 1003, `{"type":"map","op":"delete","path":["m"]}`, "a4"),
			vDeliverAll("a4 a3 a2 a1", "b"),
			vFail("b", 1004, `{"type":"lww","op":"set","value":"root"}`, "wrong_type"),
		),
		want: vSame(`{}`, "ab"), converged: "ab",
	}}
}

func vecFailureScenarios() []vecScenario {
	return []vecScenario{{
		name:        "wrong-type-root",
		description: "A key is fixed to the type of its first write: operations of other types fail and change nothing.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc"}`, "a1"),
			vFail("a", 1001, opSetAddX, "wrong_type"),
			vFail("a", 1001, `{"type":"lww","op":"set","value":1}`, "wrong_type"),
			vFail("a", 1001, `{"type":"gcounter","op":"inc"}`, "wrong_type"),
			vFail("a", 1001, `{"type":"lww","op":"set","path":["f"],"value":1}`, "wrong_type"),
			vDeliver("a1", "b"),
			vFail("b", 1001, `{"type":"map","op":"delete","path":["f"]}`, "wrong_type"),
		),
		want: vSame(`1`, "ab"), converged: "ab",
	}, {
		name:        "wrong-type-field",
		description: "A map field keeps its type: a counter op on a register field, or using it as a map, fails.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","path":["title"],"value":"Plan"}`, "a1"),
			vFail("a", 1001, `{"type":"counter","op":"inc","path":["title"]}`, "wrong_type"),
			vFail("a", 1001, `{"type":"set","op":"add","path":["title","x"],"value":1}`, "wrong_type"),
			vDeliver("a1", "b"),
			vFail("b", 1001, `{"type":"flag","op":"enable","path":["title"]}`, "wrong_type"),
		),
		want: vSame(`{"title":"Plan"}`, "ab"), converged: "ab",
	}, {
		name: "wrong-type-after-remove",
		description: "Removing every element leaves no leaves but the key stays a set: it reads [] and refuses " +
			"other types.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, opSetAddX, "a1"),
			vAt("a", 1001, opSetRmX, "a2"),
			vFail("a", 1002, `{"type":"counter","op":"inc"}`, "wrong_type"),
			vDeliverAll("a2 a1", "b"),
			vFail("b", 1002, opEnable, "wrong_type"),
		),
		want: vSame(`[]`, "ab"), converged: "ab",
	}, {
		name: "invalid-ops",
		description: "Operations a type does not have (invalid_op) or malformed ones (invalid) fail before touching " +
			"state, whether decoding or applying them finds the fault.",
		replicas: "a",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"lww","op":"set","value":"keep"}`, ""),
			vFail("a", 1001, `{"type":"lww","op":"inc"}`, "invalid_op"),
			vFail("a", 1001, `{"type":"lww","op":"explode","value":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"gcounter","op":"dec","by":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"gcounter","op":"inc","by":-1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"map","op":"delete"}`, "invalid_op"),
			vFail("a", 1001, `{"type":"map","op":"set","path":["x"],"value":1}`, "invalid_op"),
			vFail("a", 1001, `{"type":"widget","op":"set","value":1}`, "invalid"),
			vFail("a", 1001, `{"type":"lww","op":"set"}`, "invalid"),
			vFail("a", 1001, `{"type":"lww","op":"set","value":[1]}`, "invalid"),
			vFail("a", 1001, `{"type":"counter","op":"inc","by":9007199254740992}`, "invalid"),
			vFail("a", 1001, `{"type":"counter","op":"inc","by":1.5}`, "invalid"),
		),
		want: vSame(`"keep"`, "a"),
	}, {
		name:        "counter-overflow-refused",
		description: "A counter's running total may not pass 2^53-1, the largest integer every client reads exactly.",
		replicas:    "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":9007199254740990}`, "a1"),
			vFail("a", 1001, `{"type":"counter","op":"inc","by":2}`, "out_of_range"),
			vAt("a", 1002, `{"type":"counter","op":"inc","by":1}`, "a2"),
			vDeliverAll("a2 a1", "b"),
		),
		want: vSame(`9007199254740991`, "ab"), converged: "ab",
	}}
}

func vecDeliveryScenarios() []vecScenario {
	mixed := vecSteps(
		vAt("a", 1000, `{"type":"counter","op":"inc","path":["n"],"by":2}`, "a1"),
		vAt("a", 1001, `{"type":"set","op":"add","path":["s"],"value":"x"}`, "a2"),
		vAt("b", 1000, `{"type":"lww","op":"set","path":["t"],"value":"b"}`, "b1"),
		vAt("b", 1001, `{"type":"counter","op":"dec","path":["n"]}`, "b2"),
		vAt("c", 1000, `{"type":"set","op":"add","path":["s"],"value":"y"}`, "c1"),
		vAt("c", 1002, `{"type":"lww","op":"set","path":["t"],"value":"c"}`, "c2"),
		vAt("d", 1000, `{"type":"flag","op":"enable","path":["f"]}`, "d1"),
		vAt("d", 1001, `{"type":"set","op":"remove","path":["s"],"value":"x"}`, "d2"),
	)
	return []vecScenario{{
		name: "mesh-duplicates-reordered",
		description: "Four replicas write a shared map concurrently; every delta reaches every replica twice, in a " +
			"different order at each. They converge byte for byte.",
		replicas: "abcd",
		steps: vecSteps(mixed,
			vDeliverAll("b1 c2 d1 b2 c1 d2 b1 d2", "a"),
			vDeliverAll("d2 a2 c1 a1 d1 c2 a1 a2 c1", "b"),
			vDeliverAll("a1 b2 d2 b1 a2 d1 d1 b2", "c"),
			vDeliverAll("c2 c1 b2 b1 a2 a1 a1 c1", "d"),
		),
		want: vSame(`{"n":1,"s":["x","y"],"t":"c","f":true}`, "abcd"), converged: "abcd",
	}, {
		name: "mesh-lost-deltas-sync-repairs",
		description: "The same writes, but most deltas are lost: each replica gets a few. Full-state syncs along a " +
			"chain (a to b to c to d, then back) repair everything.",
		replicas: "abcd",
		steps: vecSteps(mixed,
			vDeliverAll("c2", "a"), vDeliverAll("d2", "b"), vDeliverAll("a1 b2", "c"),
			vSync("a", "b"), vSync("b", "c"), vSync("c", "d"), vSync("d", "c"), vSync("c", "b"), vSync("b", "a"),
		),
		want: vSame(`{"n":1,"s":["x","y"],"t":"c","f":true}`, "abcd"), converged: "abcd",
	}, {
		name:        "sync-empty",
		description: "Syncing an empty replica into another changes nothing; syncing into an empty one copies the state.",
		replicas:    "abc",
		steps: vecSteps(
			vSync("c", "a"),
			vAt("a", 1000, `{"type":"lww","op":"set","value":"v"}`, ""),
			vSync("c", "a"), vSync("a", "b"),
		),
		want:      map[string]string{"a": `"v"`, "b": `"v"`, "c": `null`},
		converged: "ab",
	}, {
		name: "relay-causal-chain",
		description: "b answers a's write and c answers b's, each seeing the previous; d receives the three deltas in " +
			"reverse order and still ends where the others do.",
		replicas: "abcd",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"mvreg","op":"set","path":["m"],"value":"a"}`, "a1"),
			vDeliver("a1", "b"),
			vAt("b", 1001, `{"type":"mvreg","op":"set","path":["m"],"value":"b"}`, "b1"),
			vDeliverAll("a1 b1", "c"),
			vAt("c", 1002, `{"type":"mvreg","op":"set","path":["m"],"value":"c"}`, "c1"),
			vDeliverAll("c1 b1 a1", "d"), vDeliverAll("b1 c1", "a"), vDeliver("c1", "b"),
		),
		want: vSame(`{"m":["c"]}`, "abcd"), converged: "abcd",
	}, {
		name: "own-delta-echo",
		description: "A replica receiving its own deltas back (an echo through a peer), old and new, is unchanged, and " +
			"its next write continues its own sequence.",
		replicas: "ab",
		steps: vecSteps(
			vAt("a", 1000, `{"type":"counter","op":"inc","by":2}`, "a1"),
			vAt("a", 1001, `{"type":"counter","op":"inc","by":3}`, "a2"),
			vDeliverAll("a2 a1 a2", "a"),
			vAt("a", 1002, `{"type":"counter","op":"inc","by":4}`, "a3"),
			vDeliverAll("a3 a1 a2", "b"),
		),
		want: vSame(`9`, "ab"), converged: "ab",
	}}
}
