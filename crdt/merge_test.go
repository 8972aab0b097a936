package crdt_test

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// Merger.JoinBatch must be UnmarshalBatch followed by Join of each item,
// exactly: the same objects for valid input, the same errors (and nothing
// joined) for everything else, whatever its buffers held before.

// mergeKeys are few, so that items of one batch share a target.
var mergeKeys = []string{"a", "b", "c"}

// refJoinBatch is the reference: decode, then join each item into a copy
// of its target.
func refJoinBatch(data []byte, targets map[string]*crdt.Object) (map[string]*crdt.Object, crdt.Timestamp, error) {
	b, err := crdt.UnmarshalBatch(data)
	if err != nil {
		return nil, crdt.Timestamp{}, err
	}
	out := cloneTargets(targets)
	for _, it := range b.Items {
		o := out[it.Key]
		if o == nil {
			o = crdt.NewObject()
			out[it.Key] = o
		}
		o.Join(it.Delta)
	}
	return out, b.Clock, nil
}

// fastJoinBatch is the same through m.
func fastJoinBatch(m *crdt.Merger, data []byte, targets map[string]*crdt.Object) (map[string]*crdt.Object, crdt.Timestamp, error) {
	out := cloneTargets(targets)
	ts, err := m.JoinBatchObjects(data, func(key string) *crdt.Object {
		o := out[key]
		if o == nil {
			o = crdt.NewObject()
			out[key] = o
		}
		return o
	})
	return out, ts, err
}

func cloneTargets(targets map[string]*crdt.Object) map[string]*crdt.Object {
	out := make(map[string]*crdt.Object, len(targets))
	for k, o := range targets {
		out[k] = o.Clone()
	}
	return out
}

// requireSameMerge checks the fast path against the reference on data.
// Before the results are compared, m merges dirt (into objects of its
// own): what the targets hold must not be in m's buffers.
func requireSameMerge(t rapid.TB, m *crdt.Merger, data []byte, targets map[string]*crdt.Object, dirt []byte) error {
	t.Helper()
	want, wantTS, wantErr := refJoinBatch(data, targets)
	if wantErr != nil {
		// Refused: with the same error, and before any target is asked for.
		_, gotErr := m.JoinBatchObjects(data, func(key string) *crdt.Object {
			t.Fatalf("JoinBatch asked for the target of %q, then refused the batch (%v)", key, wantErr)
			return nil
		})
		if gotErr == nil {
			t.Fatalf("UnmarshalBatch: %v; JoinBatch: no error\n%x", wantErr, data)
		}
		if wantErr.Error() != gotErr.Error() {
			t.Fatalf("different errors:\n UnmarshalBatch: %v\n JoinBatch:      %v\n%x", wantErr, gotErr, data)
		}
		for _, sentinel := range []error{crdt.ErrInvalid, crdt.ErrLimit, crdt.ErrVersion} {
			if errors.Is(wantErr, sentinel) != errors.Is(gotErr, sentinel) {
				t.Fatalf("errors wrap different sentinels: %v, %v", wantErr, gotErr)
			}
		}
		return wantErr
	}
	got, gotTS, gotErr := fastJoinBatch(m, data, targets)
	if gotErr != nil {
		t.Fatalf("UnmarshalBatch decodes, JoinBatch refuses: %v\n%x", gotErr, data)
	}
	_, _ = m.JoinBatchObjects(dirt, func(string) *crdt.Object { return crdt.NewObject() })
	if wantTS != gotTS {
		t.Fatalf("clock %v, want %v", gotTS, wantTS)
	}
	if len(got) != len(want) {
		t.Fatalf("%d targets, want %d", len(got), len(want))
	}
	for k, o := range want {
		requireSame(t, "JoinBatch = UnmarshalBatch then Join, key "+k, got[k], o)
	}
	return nil
}

// corrupt changes data in one of the ways a wire or a forger does.
func corrupt(t *rapid.T, data []byte) []byte {
	out := bytes.Clone(data)
	if len(out) == 0 {
		return []byte{rapid.Byte().Draw(t, "byte")}
	}
	i := rapid.IntRange(0, len(out)-1).Draw(t, "at")
	switch rapid.IntRange(0, 4).Draw(t, "how") {
	case 0:
		out[i] ^= byte(1 << rapid.IntRange(0, 7).Draw(t, "bit"))
	case 1:
		out[i] = rapid.Byte().Draw(t, "byte")
	case 2:
		out = out[:i]
	case 3:
		out = append(out[:i:i], append([]byte{rapid.Byte().Draw(t, "byte")}, data[i:]...)...)
	default:
		out = append(out[:i:i], data[i+1:]...)
	}
	return out
}

func TestJoinBatchMatchesDecodeThenJoin(t *testing.T) {
	// One Merger for every case: its buffers carry whatever the last
	// batch, valid or not, left in them.
	var m crdt.Merger
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		w := drawHistory(t, typ, true)
		elems := w.lattice()
		pick := rapid.SampledFrom(elems)
		targets := map[string]*crdt.Object{}
		for _, k := range mergeKeys {
			if rapid.Bool().Draw(t, "has "+k) {
				targets[k] = pick.Draw(t, "target "+k)
			}
		}
		b := crdt.Batch{Clock: ts(simStart+rapid.Int64Range(-5, 5).Draw(t, "clock"), uint32(rapid.IntRange(0, 2).Draw(t, "logical")))}
		if rapid.Bool().Draw(t, "named") {
			b.Replicas = lawReplicas[rapid.IntRange(0, len(lawReplicas)-1).Draw(t, "from"):]
		}
		for range rapid.IntRange(0, 4).Draw(t, "items") {
			b.Items = append(b.Items, crdt.BatchItem{Key: rapid.SampledFrom(mergeKeys).Draw(t, "key"), Delta: pick.Draw(t, "delta")})
		}
		version := byte(crdt.BinaryVersion)
		if rapid.IntRange(0, 4).Draw(t, "old") == 0 {
			version = 1
		}
		data, err := crdt.MarshalBatchIn(b, version)
		if err != nil {
			t.Skip(err) // a table too large for version 1, or a base it cannot carry
		}
		// The dirt: another batch of the history's states and deltas.
		dirt, err := crdt.Batch{Clock: b.Clock, Items: []crdt.BatchItem{{Key: "x", Delta: pick.Draw(t, "dirt")}, {Key: "y", Delta: pick.Draw(t, "dirt")}}}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := requireSameMerge(t, &m, data, targets, dirt); err != nil {
			t.Fatalf("a valid batch refused: %v", err)
		}
		for range rapid.IntRange(0, 3).Draw(t, "corruptions") {
			_ = requireSameMerge(t, &m, corrupt(t, data), targets, dirt)
		}
	})
}

// FuzzJoinBatch feeds Merger.JoinBatch untrusted bytes and checks it
// against UnmarshalBatch and Join, into the fuzz bases.
func FuzzJoinBatch(f *testing.F) {
	bases := fuzzBases(f)
	all := crdt.Batch{Clock: ts(simStart, 2), Replicas: lawReplicas[3:]}
	for i, o := range fuzzSeeds(f) {
		all.Items = append(all.Items, crdt.BatchItem{Key: mergeKeys[i%len(mergeKeys)], Delta: o})
	}
	dirt, err := all.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	empty, err := crdt.Batch{Clock: ts(simStart, 0)}.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(dirt)
	f.Add(empty)
	// One Merger for every input, so that inputs meet each other's
	// leftovers: a fuzzing worker runs inputs one at a time.
	var m crdt.Merger
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := map[string]*crdt.Object{}
		for i, k := range mergeKeys {
			targets[k] = bases[(len(data)+i)%len(bases)]
		}
		if err := requireSameMerge(t, &m, data, targets, dirt); err != nil {
			requireDecodeError(t, err)
		}
	})
}

// TestJoinBatchTargets checks what JoinBatch does with its target: an item
// whose target gives no store is skipped, and a target's error ends the
// join and is returned.
func TestJoinBatchTargets(t *testing.T) {
	o := crdt.NewObject()
	d, err := o.Apply(lawReplicas[0], ts(simStart, 0), crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"f"}, Value: crdt.MustInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	data, err := crdt.Batch{Clock: ts(simStart, 0), Items: []crdt.BatchItem{{Key: "skip", Delta: d}, {Key: "a", Delta: d}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m crdt.Merger
	a := crdt.NewObject()
	clock, err := m.JoinBatchObjects(data, func(key string) *crdt.Object {
		if key == "a" {
			return a
		}
		return nil
	})
	if err != nil || clock != ts(simStart, 0) {
		t.Fatalf("JoinBatchObjects: %v, %v", clock, err)
	}
	requireSame(t, "the item joined", a, d)
	boom := errors.New("boom")
	calls := 0
	_, err = m.JoinBatch(data, func(string) (crdt.Store, *crdt.Meta, error) {
		calls++
		return nil, nil, boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("a target's error: %v after %d calls, want boom after 1", err, calls)
	}
}
