package crdt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// The fuzz targets feed the decoders untrusted bytes. Plain `go test`
// replays the committed corpus in testdata/fuzz; `go test -fuzz=Name`
// explores from it.

// requireDecodeError checks that a refusal is one of the documented kinds.
func requireDecodeError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, crdt.ErrInvalid) && !errors.Is(err, crdt.ErrLimit) && !errors.Is(err, crdt.ErrVersion) {
		t.Fatalf("refused with an undocumented error: %v", err)
	}
}

// fuzzBases are valid states to join decoded input into, in a fixed order
// so that a failing input reproduces.
func fuzzBases(tb testing.TB) []*crdt.Object {
	samples := sampleObjects(tb)
	var out []*crdt.Object
	for _, name := range slices.Sorted(maps.Keys(samples)) {
		if name != "list" { // a seed, not a base: see fuzzSeeds
			out = append(out, samples[name])
		}
	}
	return out
}

// fuzzSeeds are the bases and the samples that are only seeds: the list,
// whose writers (replicas 3 and 4) no base has, so that it joins into
// every base, and adding it moved no committed input to another base; and
// a counter with a folded writer (a base, binary version 3).
func fuzzSeeds(tb testing.TB) []*crdt.Object {
	folded := crdt.NewObject()
	for i, r := range lawReplicas[3:5] {
		if _, err := folded.Apply(r, crdt.Timestamp{Wall: simStart}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: int64(20 + i)}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := folded.Fold(lawReplicas[3], crdt.FoldReplica(lawReplicas[4])); err != nil {
		tb.Fatal(err)
	}
	return append(fuzzBases(tb), sampleObjects(tb)["list"], folded)
}

// requireJoinable checks that a decoded state behaves as a lattice element
// next to a valid state: joining it does not panic, is idempotent and
// commutes, and the result reads and encodes.
func requireJoinable(t *testing.T, bases []*crdt.Object, seed int, d *crdt.Object) {
	t.Helper()
	_ = d.Value()
	_ = jsonOf(t, d)
	base := bases[seed%len(bases)]
	once := join(base, d)
	requireSame(t, "base⊔d⊔d = base⊔d", join(once, d), once)
	requireSame(t, "base⊔d = d⊔base", join(d, base), once)
	requireRoundTrip(t, once)
}

func FuzzUnmarshalObject(f *testing.F) {
	bases := fuzzBases(f)
	for _, o := range fuzzSeeds(f) {
		f.Add(mustMarshal(f, o))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := crdt.UnmarshalObject(data)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		// Input in a version still read re-encodes in that version.
		if again := crdt.MarshalBinaryIn(d, data[0]); !bytes.Equal(again, data) {
			t.Fatalf("decoded, but re-encodes differently:\n%x\n%x", data, again)
		}
		requireJoinable(t, bases, len(data), d)
	})
}

func FuzzUnmarshalBatch(f *testing.F) {
	bases := fuzzBases(f)
	all := crdt.Batch{Clock: ts(simStart, 2), Replicas: lawReplicas[3:]}
	for i, o := range bases {
		all.Items = append(all.Items, crdt.BatchItem{Key: string(rune('a' + i)), Delta: o})
	}
	for _, b := range []crdt.Batch{all, {Clock: ts(simStart, 0)}} {
		enc, err := b.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := crdt.UnmarshalBatch(data)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		again, err := crdt.MarshalBatchIn(b, data[0])
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded, but re-encodes differently (%v):\n%x\n%x", err, data, again)
		}
		for i, it := range b.Items {
			requireJoinable(t, bases, len(data)+i, it.Delta)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, o := range fuzzBases(f) {
		_ = o.Range("", "", func(key string, _ []crdt.Entry) error {
			f.Add(key)
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := crdt.ParseKey(key)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		if p.Key() != key {
			t.Fatalf("ParseKey(%q) = %v, whose key is %q", key, p, p.Key())
		}
		_ = p.String()
	})
}

// FuzzCheckJSON: CheckJSON never panics, accepts only what encoding/json
// accepts too, and accepts every text JSON.stringify could have produced
// from the value encoding/json reads (a round trip).
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"A":2}`, `"\ud800"`, `"\ud83d\ude00"`, `"\udc00\ud800"`,
		"\"\xff\"", `[1,2,{"x":[true,false,null]}]`, `-0.5e+10`, `01`, `{"a":}`, ` {} `, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := crdt.CheckJSON(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("CheckJSON accepts %q, which encoding/json refuses", data)
		}
		if err != nil && !errors.Is(err, crdt.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		if err == nil {
			var v any
			if json.Unmarshal(data, &v) == nil {
				again, _ := json.Marshal(v)
				if e := crdt.CheckJSON(again); e != nil {
					t.Fatalf("%q re-encoded as %q is refused: %v", data, again, e)
				}
			}
		}
	})
}
