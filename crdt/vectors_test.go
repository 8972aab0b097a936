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

var updateVectors = flag.Bool("update", false, "rewrite testdata/vectors from the scenarios in vectors_*_test.go")

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
	Fold    string          `json:"fold,omitempty"`
	Into    string          `json:"into,omitempty"`
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
		case s.At != "" && s.Fold != "" && s.Into != "" && s.Op == nil && s.Time == nil && s.To == "":
			err = vecFold(objs, ids, deltas, s)
		case s.Sync != "" && s.To != "" && s.At == "" && s.Deliver == "":
			var from *crdt.Object
			if from, err = replica(s.Sync); err == nil {
				var wire []byte
				if wire, err = from.MarshalJSON(); err == nil {
					err = joinJSON(s.To, wire)
				}
			}
		default:
			err = errors.New("not an op, fold, deliver or sync step")
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
	return nameDelta(deltas, s.Delta, d)
}

// nameDelta keeps d's JSON under name, when a step names its delta.
func nameDelta(deltas map[string][]byte, name string, d *crdt.Object) error {
	if name == "" {
		return nil
	}
	if _, dup := deltas[name]; dup {
		return fmt.Errorf("delta %q named twice", name)
	}
	b, err := d.MarshalJSON()
	if err != nil {
		return err
	}
	deltas[name] = b
	return nil
}

// vecFold runs a fold step: replica s.At folds writer s.Fold of its root
// counter into the fold replica s.Into (crdt.Fold).
func vecFold(objs map[string]*crdt.Object, ids map[string]crdt.ReplicaID, deltas map[string][]byte, s vecStep) error {
	o, ok := objs[s.At]
	if !ok {
		return fmt.Errorf("unknown replica %q", s.At)
	}
	w, ok := ids[s.Fold]
	if !ok {
		return fmt.Errorf("unknown replica %q", s.Fold)
	}
	into, err := uuid.Parse(s.Into)
	if err != nil || into.String() != s.Into {
		return fmt.Errorf("fold into %q: not a lowercase UUID", s.Into)
	}
	d, err := o.Fold(w, into)
	if err != nil {
		return fmt.Errorf("fold %s into %s: %w", s.Fold, s.Into, err)
	}
	return nameDelta(deltas, s.Delta, d)
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
			t.Errorf("%s has no scenario in vectors_*_test.go", path)
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

// vecScenarios are the vectors, in file order. Each states by hand the
// plain value every replica must end with; descriptions say why.
func vecScenarios() []vecScenario {
	return slices.Concat(vecCounterScenarios(), vecSetScenarios(), vecRegisterScenarios(),
		vecFlagScenarios(), vecMapScenarios(), vecFailureScenarios(), vecDeliveryScenarios(),
		vecTextScenarios(), vecRangeScenarios(), vecListScenarios(), vecFoldScenarios())
}
