package crdt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

// sampleObjects builds one state of each type by a fixed script, with the
// features the encoding must carry: several replicas, nested fields, values
// of every kind, logical timestamps, concurrent values and a causal context
// with a cloud. The codec tests and the fuzz targets start from them.
func sampleObjects(t testing.TB) map[string]*crdt.Object {
	t.Helper()
	step := 0
	apply := func(o *crdt.Object, r int, op crdt.Op) *crdt.Object {
		t.Helper()
		step++
		d, err := o.Apply(lawReplicas[r], ts(simStart+int64(step/3), uint32(step%3)), op)
		if err != nil {
			t.Fatalf("sample %v: %v", op, err)
		}
		return d
	}
	set := func(typ crdt.Type, v crdt.Value, path ...string) crdt.Op {
		return crdt.Op{Type: typ, Kind: crdt.OpSet, Value: v, Path: path}
	}
	out := map[string]*crdt.Object{"empty": crdt.NewObject()}

	g := crdt.NewObject()
	for r := 0; r < 3; r++ {
		g.Join(apply(crdt.NewObject(), r, crdt.Op{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: int64(r + 1)}))
	}
	out["gcounter"] = g

	// c joins replica 1's second delta before its first: the first then
	// hides in the cloud until it is superseded.
	c, other := crdt.NewObject(), crdt.NewObject()
	apply(c, 0, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 5})
	apply(other, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 70})
	c.Join(apply(other, 1, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 3}))
	apply(c, 0, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 1})
	out["counter"] = c

	s, s2 := crdt.NewObject(), crdt.NewObject()
	for _, v := range setElems {
		apply(s, 0, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: v})
	}
	s2.Join(s)
	apply(s, 0, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("x")})
	apply(s2, 2, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
	apply(s2, 2, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.Null()})
	apply(s2, 2, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.MustInt(-crdt.MaxSafeInt)})
	s.Join(s2)
	out["set"] = s

	m, m2 := crdt.NewObject(), crdt.NewObject()
	apply(m, 0, set(crdt.TypeLWW, crdt.String("Plan"), "cards", "c1", "title"))
	apply(m, 0, set(crdt.TypeLWW, crdt.String("Old"), "cards", "c2", "title"))
	apply(m, 0, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2, Path: []string{"cards", "c1", "votes"}})
	apply(m, 1, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("urgent"), Path: []string{"tags"}})
	apply(m, 1, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable, Path: []string{"done"}})
	apply(m, 1, set(crdt.TypeMVRegister, mustFloat(0.125), "owner"))
	m2.Join(m)
	apply(m, 0, crdt.Op{Type: crdt.TypeORMap, Kind: crdt.OpDelete, Path: []string{"cards", "c2"}})
	apply(m2, 2, set(crdt.TypeLWW, crdt.Bool(true), "cards", "c2", "title"))
	apply(m2, 2, set(crdt.TypeMVRegister, crdt.MustInt(1_000_000), "owner"))
	m.Join(m2)
	out["map"] = m

	l := crdt.NewObject()
	apply(l, 0, set(crdt.TypeLWW, crdt.String("a")))
	apply(l, 1, set(crdt.TypeLWW, crdt.String("é\u2028\"")))
	out["lww"] = l

	mv, mv2 := crdt.NewObject(), crdt.NewObject()
	apply(mv, 0, set(crdt.TypeMVRegister, crdt.MustInt(7)))
	apply(mv2, 1, set(crdt.TypeMVRegister, mustFloat(-1e-7)))
	mv.Join(mv2)
	out["mvreg"] = mv

	f, f2 := crdt.NewObject(), crdt.NewObject()
	apply(f, 0, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable})
	f2.Join(f)
	apply(f2, 1, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpDisable})
	apply(f, 2, crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable})
	f.Join(f2)
	out["flag"] = f

	// Two replicas type concurrently at one place, one of them past a
	// block boundary; deletes leave deleted pieces, one of them in a
	// block another replica minted.
	tx, tx2 := crdt.NewObject(), crdt.NewObject()
	ins := func(o *crdt.Object, r int, i int64, s string, path ...string) {
		apply(o, r, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Index: i, Value: crdt.String(s), Path: path})
	}
	del := func(o *crdt.Object, r int, i, n int64, path ...string) {
		apply(o, r, crdt.Op{Type: crdt.TypeText, Kind: crdt.OpDelete, Index: i, Count: n, Path: path})
	}
	ins(tx, 0, 0, "ab")
	tx2.Join(tx)
	for i, c := range []rune(strings.Repeat("xyz", 90)) {
		ins(tx, 0, int64(1+i), string(c))
	}
	ins(tx2, 1, 1, "Hé😀")
	del(tx2, 1, 0, 1)
	tx.Join(tx2)
	del(tx, 0, 100, 5)
	out["text"] = tx

	mt := crdt.NewObject()
	ins(mt, 2, 0, "note", "cards", "c1", "text")
	ins(mt, 1, 4, "s!", "cards", "c1", "text")
	apply(mt, 2, set(crdt.TypeLWW, crdt.String("Plan"), "cards", "c1", "title"))
	del(mt, 2, 0, 1, "cards", "c1", "text")
	out["map-text"] = mt

	// A list with scalar and map elements, moved, deleted, written by
	// index and joined from two replicas (lists as map fields are in the
	// vectors and the laws). It is written by replicas 3 and 4, which no other sample uses, so that the
	// fuzz targets' joins of two samples never meet one dot twice.
	li, li2 := crdt.NewObject(), crdt.NewObject()
	lop := func(k crdt.OpKind, i, n int64) crdt.Op {
		return crdt.Op{Type: crdt.TypeList, Kind: k, Index: i, Count: n, To: n}
	}
	for i, v := range setElems[:5] {
		op := lop(crdt.OpInsert, int64(i), 0)
		op.Value = v
		apply(li, 3, op)
	}
	card := lop(crdt.OpInsert, 2, 0)
	card.Map = map[string]crdt.Value{"title": crdt.String("card"), "n": crdt.MustInt(300)}
	apply(li, 3, card)
	li2.Join(li)
	apply(li, 3, lop(crdt.OpMove, 0, 4))
	apply(li2, 4, lop(crdt.OpMove, 0, 2))
	apply(li2, 4, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"title"}, Item: &crdt.ItemRef{Index: 1}, Value: crdt.String("x")})
	apply(li, 3, lop(crdt.OpDelete, 1, 2))
	li.Join(li2)
	out["list"] = li
	return out
}

// raw writes encodings by hand, following the grammar in codec_binary.go,
// so that each malformed input differs from a valid one in one place.
type raw []byte

func (b raw) u(xs ...uint64) raw {
	for _, x := range xs {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

func (b raw) by(xs ...byte) raw { return append(b, xs...) }

func (b raw) ids(rs ...crdt.ReplicaID) raw {
	b = b.u(uint64(len(rs)))
	for _, r := range rs {
		b = append(b, r[:]...)
	}
	return b
}

func (b raw) str(s string) raw { return append(b.u(uint64(len(s))), s...) }

// lo and hi are two replicas in byte order.
var lo, hi = lawReplicas[1], lawReplicas[0]

const (
	flagRoot = "\x07"
	lwwRoot  = "\x05"
	flagBits = 1 << crdt.TypeEWFlag
)

// objHead starts an object with base time 0 and the given replicas.
func objHead(rs ...crdt.ReplicaID) raw { return raw{1}.u(0).ids(rs...) }

// validFlag is the encoding of a flag enabled once by lo: one leaf, one
// entry (dot lo:1 = seq 1 * 1 replica + index 0), a vector of lo:1.
func validFlag() raw {
	return objHead(lo).u(2).str(flagRoot).u(1, 1).u(1, 1, 0, 1)
}

func TestHandWrittenEncodingsDecode(t *testing.T) {
	o := crdt.NewObject()
	if _, err := o.Apply(lo, ts(0, 0), crdt.Op{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}); err != nil {
		t.Fatal(err)
	}
	if got := crdt.MarshalBinaryIn(o, 1); !bytes.Equal(got, validFlag()) {
		t.Fatalf("the hand-written flag is\n%x\nbut the version 1 encoder writes\n%x", []byte(validFlag()), got)
	}
	// Version 2 differs in the vector entry: lo is table index 0, one step
	// from -1, so the entry is its sequence shifted, 1<<1.
	flag2 := raw{2}.u(0).ids(lo).u(2).str(flagRoot).u(1, 1).u(1, 1, 1<<1)
	if got := crdt.MarshalBinaryIn(o, 2); !bytes.Equal(got, flag2) {
		t.Fatalf("the hand-written flag is\n%x\nbut the version 2 encoder writes\n%x", []byte(flag2), got)
	}
	// Version 3 differs from 2 only in counter entries (a base bit).
	flag3 := append(raw{3}, flag2[1:]...)
	if got := mustMarshal(t, o); !bytes.Equal(got, flag3) {
		t.Fatalf("the hand-written flag is\n%x\nbut the encoder writes\n%x", []byte(flag3), got)
	}
	for name, b := range map[string]raw{
		"flag":  validFlag(),
		"empty": objHead().u(0, 0),
		"two leaves, two replicas": objHead(lo, hi).u(4).
			str("\x03\x81").u(1, 2).  // element 1, dot lo:1
			u(1).str("\x82").u(1, 3). // element 2 shares the root byte, dot hi:1
			u(1, 2, 0, 1, 1, 1),
	} {
		if _, err := crdt.UnmarshalObject(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// bytesAllocated is the heap fn allocates, on average over a few runs.
func bytesAllocated(fn func()) uint64 {
	const runs = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		fn()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

// malformed is a decoder input that must be refused with want.
type malformed struct {
	name string
	in   []byte
	want error
}

// checkRefused runs cases through decode, and with them every strict
// prefix of each valid encoding and an input over MaxEncodedSize: each must
// fail with its sentinel, without panicking, and without allocating more
// than a small multiple of its input, whatever counts it claims.
func checkRefused(t *testing.T, cases []malformed, valid [][]byte, decode func([]byte) error) {
	for _, b := range valid {
		for i := range b {
			cases = append(cases, malformed{name: "prefix", in: b[:i], want: crdt.ErrInvalid})
		}
	}
	cases = append(cases, malformed{"over MaxEncodedSize", make([]byte, crdt.MaxEncodedSize+1), crdt.ErrLimit})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decode(c.in)
			if err == nil {
				t.Fatalf("decoded without error")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, c.want)
			}
			if n := bytesAllocated(func() { _ = decode(c.in) }); n > 64<<10+4*uint64(len(c.in)) {
				t.Fatalf("refusing %d bytes allocated %d", len(c.in), n)
			}
		})
	}
}

func sortedIDs(n int) []crdt.ReplicaID {
	rs := make([]crdt.ReplicaID, n)
	for i := range rs {
		binary.BigEndian.PutUint32(rs[i][12:], uint32(i))
	}
	return rs
}

func TestUnmarshalObjectRefuses(t *testing.T) {
	huge := uint64(1) << 40
	flagBody := func(entries raw) raw { return objHead(lo).u(2).str(flagRoot).by(entries...) }
	twoLeaves := func(k1, k2 string) raw {
		return objHead(lo).u(4).str(k1).u(1, 1).u(0).str(k2).u(1, 2).u(1, 1, 0, 2)
	}
	lwwEntry := func(tsAndValue ...byte) raw {
		return objHead(lo).u(2).str(lwwRoot).u(1, 1).by(tsAndValue...).u(1, 1, 0, 1)
	}
	mvValue := func(v ...byte) raw {
		return objHead(lo).u(2).str("\x06").u(1, 1).by(v...).u(1, 1, 0, 1)
	}
	float := func(f float64) []byte {
		return binary.BigEndian.AppendUint64([]byte{0x04}, math.Float64bits(f))
	}
	cases := []malformed{
		{"empty input", nil, crdt.ErrInvalid},
		{"version 0", append(raw{0}, validFlag()[1:]...), crdt.ErrVersion},
		{"version 4", append(raw{4}, validFlag()[1:]...), crdt.ErrVersion},
		{"trailing byte", validFlag().by(0), crdt.ErrInvalid},
		{"base wall beyond 2^53", raw{1}.u(crdt.MaxSafeInt+1).ids().u(0, 0), crdt.ErrInvalid},
		{"non-minimal varint", raw{1}.by(0x80, 0x00).ids().u(0, 0), crdt.ErrInvalid},
		{"varint over 64 bits", raw{1}.by(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), crdt.ErrInvalid},
		{"unsorted replica table", objHead(hi, lo).u(0, 0), crdt.ErrInvalid},
		{"duplicate replica", objHead(lo, lo).u(0, 0), crdt.ErrInvalid},
		{"replica count 2^40", raw{1}.u(0, huge), crdt.ErrInvalid},
		{"replica table over the version 1 limit", objHead(sortedIDs(1<<16+1)...).u(0, 0), crdt.ErrLimit},
		{"unreferenced replica", objHead(lo).u(0, 0), crdt.ErrInvalid},
		{"unknown type bit", objHead().by(1).u(0, 0), crdt.ErrInvalid},
		{"leaf of a type the object is not", objHead(lo).u(3).by(1<<crdt.TypeORSet).str(flagRoot).u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"leaf count 2^40", objHead().by(flagBits).u(huge), crdt.ErrInvalid},
		{"key length 2^40", objHead().u(2, huge), crdt.ErrInvalid},
		{"key over the limit", objHead(lo).u(2).str("\x03\x05"+string(raw{}.str(strings.Repeat("s", crdt.MaxKeyLen)))).u(1, 1).u(1, 1, 0, 1), crdt.ErrLimit},
		{"leaf keys out of order", twoLeaves("\x03\x82", "\x03\x81"), crdt.ErrInvalid},
		{"same key twice", twoLeaves("\x03\x81", "\x03\x81"), crdt.ErrInvalid},
		{"shares more than the previous key", objHead(lo).u(4).str("\x03\x81").u(1, 1).u(5).str("\x82").u(1, 2).u(1, 1, 0, 2), crdt.ErrInvalid},
		{"unknown root type", objHead(lo).u(2).str("\x09").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"set leaf without an element", objHead(lo).u(2).str("\x03").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"map as a leaf", objHead(lo).u(2).str("\x04").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"field of type 0", objHead(lo).u(2).str("\x04\x08a").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"bytes after a flag", objHead(lo).u(2).str(flagRoot+"\x00").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"field name not UTF-8", objHead(lo).u(2).str("\x04\x0f\xff").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"empty leaf", flagBody(raw{}.u(0)).u(0), crdt.ErrInvalid},
		{"entry count 2^40", flagBody(raw{}.u(huge)), crdt.ErrInvalid},
		{"dot with sequence 0", flagBody(raw{}.u(1, 0)).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"dot beyond MaxSeq", flagBody(raw{}.u(1, crdt.MaxSeq+1)).u(1, 1, 0, crdt.MaxSeq+1), crdt.ErrInvalid},
		{"dot with no replicas", objHead().u(2).str(flagRoot).u(1, 1).u(0), crdt.ErrInvalid},
		{"dots out of order", flagBody(raw{}.u(2, 2, 1)).u(1, 1, 0, 2), crdt.ErrInvalid},
		{"same dot twice in a leaf", flagBody(raw{}.u(2, 1, 1)).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"same dot in two leaves", objHead(lo).u(4).str("\x03\x81").u(1, 1).u(1).str("\x82").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"counter total beyond 2^53", objHead(lo).u(2).str("\x01").u(1, 1, crdt.MaxSafeInt+1, 0).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"small integer in the long form", mvValue(0x03, 10), crdt.ErrInvalid},
		{"integer beyond 2^53", mvValue(raw{0x03}.u(2 * (crdt.MaxSafeInt + 1))...), crdt.ErrInvalid},
		{"whole float", mvValue(float(2)...), crdt.ErrInvalid},
		{"NaN", mvValue(float(math.NaN())...), crdt.ErrInvalid},
		{"infinity", mvValue(float(math.Inf(-1))...), crdt.ErrInvalid},
		{"string not UTF-8", mvValue(0x05, 1, 0xff), crdt.ErrInvalid},
		{"unknown value tag", mvValue(0x06), crdt.ErrInvalid},
		{"logical flag with logical 0", lwwEntry(1, 0, 0x81), crdt.ErrInvalid},
		{"logical beyond 32 bits", lwwEntry(raw{1}.u(1 << 32).by(0x81)...), crdt.ErrInvalid},
		{"timestamp before 1970", lwwEntry(raw{}.u(2 << 1).by(0x81)...), crdt.ErrInvalid},
		{"vector index out of range", flagBody(raw{}.u(1, 1)).u(1, 1, 1, 1), crdt.ErrInvalid},
		{"vector indices out of order", objHead(lo, hi).u(0).u(1, 2, 1, 1, 0, 1), crdt.ErrInvalid},
		{"vector entry of sequence 0", objHead(lo).u(0).u(1, 1, 0, 0), crdt.ErrInvalid},
		{"empty vector flagged present", objHead(lo).u(0).u(1, 0), crdt.ErrInvalid},
		{"vector longer than the table", objHead(lo).u(0).u(1, 2, 0, 1, 0, 2), crdt.ErrInvalid},
		{"vector count 2^40", objHead(lo).u(0).u(1, huge), crdt.ErrInvalid},
		{"cloud count 2^40", objHead(lo).u(0).u(huge << 1), crdt.ErrInvalid},
		{"cloud dot the vector covers", objHead(lo).u(0).u(3, 1, 0, 2, 1), crdt.ErrInvalid},
		{"cloud dot a leaf holds", flagBody(raw{}.u(1, 3)).u(2, 3), crdt.ErrInvalid},
	}
	var valid [][]byte
	for _, o := range sampleObjects(t) {
		valid = append(valid, mustMarshal(t, o))
	}
	checkRefused(t, cases, valid, func(b []byte) error {
		_, err := crdt.UnmarshalObject(b)
		return err
	})
}

// TestUnmarshalObjectIsCanonical changes each byte of valid encodings: a
// decoder that accepts the result must accept it only as the canonical
// encoding of what it decoded.
func TestUnmarshalObjectIsCanonical(t *testing.T) {
	for name, o := range sampleObjects(t) {
		b := mustMarshal(t, o)
		for i := range b {
			for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff, b[i] + 1, b[i] - 1} {
				c := slices.Clone(b)
				c[i] = x
				if d, err := crdt.UnmarshalObject(c); err == nil && !bytes.Equal(crdt.MarshalBinaryIn(d, c[0]), c) {
					t.Fatalf("%s: byte %d set to %#x decodes, but re-encodes differently", name, i, x)
				}
			}
		}
	}
}

// requireRoundTrip checks that o survives encoding: the decoded state
// re-encodes to the same bytes and reads, joins and compares the same.
func requireRoundTrip(t rapid.TB, o *crdt.Object) {
	t.Helper()
	b := mustMarshal(t, o)
	d, err := crdt.UnmarshalObject(b)
	if err != nil {
		t.Fatalf("decoding %x: %v", b, err)
	}
	requireSame(t, "decode(encode(x))", d, o)
	if !d.Context().Equal(o.Context()) || d.Types() != o.Types() || d.Len() != o.Len() {
		t.Fatalf("decoded metadata differs: %v %v, %v %v", d.Context().VersionVector(), d.Types(), o.Context().VersionVector(), o.Types())
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for name, o := range sampleObjects(t) {
		t.Run(name, func(t *testing.T) { requireRoundTrip(t, o) })
	}
	forEveryType(t, func(t *rapid.T, typ crdt.Type) {
		w := drawHistory(t, typ, true)
		for _, o := range w.lattice() {
			requireRoundTrip(t, o)
		}
	})
}

// drawBatch makes a batch of deltas and states from a history, under keys
// that may repeat.
func drawBatch(t *rapid.T) crdt.Batch {
	w := drawHistory(t, rapid.SampledFrom(allTypes).Draw(t, "type"), true)
	elems := w.lattice()
	b := crdt.Batch{
		Clock:    crdt.Timestamp{Wall: w.pt + rapid.Int64Range(-5000, 5000).Draw(t, "clock"), Logical: rapid.Uint32().Draw(t, "logical")},
		Replicas: rapid.SliceOfDistinct(rapid.SampledFrom(lawReplicas), func(r crdt.ReplicaID) crdt.ReplicaID { return r }).Draw(t, "named"),
	}
	n := rapid.IntRange(0, 6).Draw(t, "items")
	for i := 0; i < n; i++ {
		b.Items = append(b.Items, crdt.BatchItem{
			Key:   rapid.StringN(0, 8, 32).Draw(t, "key"),
			Delta: rapid.SampledFrom(elems).Draw(t, "delta"),
		})
	}
	return b
}

func TestBatchRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := drawBatch(t)
		enc, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := crdt.UnmarshalBatch(enc)
		if err != nil {
			t.Fatalf("decoding %x: %v", enc, err)
		}
		again, err := d.MarshalBinary()
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs (%v):\n%x\n%x", err, enc, again)
		}
		if d.Clock != b.Clock || len(d.Items) != len(b.Items) {
			t.Fatalf("header or item count changed: %v %d, want %v %d", d.Clock, len(d.Items), b.Clock, len(b.Items))
		}
		for _, r := range b.Replicas {
			if !slices.Contains(d.Replicas, r) {
				t.Fatalf("named replica %v missing from %v", r, d.Replicas)
			}
		}
		if !slices.IsSortedFunc(d.Replicas, compareIDs) {
			t.Fatalf("replica table not in order: %v", d.Replicas)
		}
		for i, it := range d.Items {
			if it.Key != b.Items[i].Key {
				t.Fatalf("item %d key %q, want %q", i, it.Key, b.Items[i].Key)
			}
			requireSame(t, "batch item", it.Delta, b.Items[i].Delta)
		}
	})
}

// batchHead starts a batch with clock (wall, logical) and the replicas.
func batchHead(wall, logical uint64, rs ...crdt.ReplicaID) raw {
	return raw{1}.u(wall, logical).ids(rs...)
}

func TestUnmarshalBatchRefuses(t *testing.T) {
	huge := uint64(1) << 40
	// flagItem is validFlag's body, as an item under key k.
	flagItem := func(k string) raw { return raw{}.str(k).u(2).str(flagRoot).u(1, 1).u(1, 1, 0, 1) }
	valid := batchHead(5, 0, lo).u(1).by(flagItem("k")...)
	if _, err := crdt.UnmarshalBatch(valid); err != nil {
		t.Fatalf("the hand-written batch does not decode: %v", err)
	}
	cases := []malformed{
		{"empty input", nil, crdt.ErrInvalid},
		{"version 4", append(raw{4}, valid[1:]...), crdt.ErrVersion},
		{"trailing byte", valid.by(0), crdt.ErrInvalid},
		{"clock beyond 2^53", batchHead(crdt.MaxSafeInt+1, 0).u(0), crdt.ErrInvalid},
		{"logical beyond 32 bits", batchHead(5, 1<<32).u(0), crdt.ErrInvalid},
		{"unsorted replica table", batchHead(5, 0, hi, lo).u(0), crdt.ErrInvalid},
		{"replica count 2^40", raw{1}.u(5, 0, huge), crdt.ErrInvalid},
		{"item count 2^40", batchHead(5, 0, lo).u(huge), crdt.ErrInvalid},
		{"key length 2^40", batchHead(5, 0, lo).u(1, huge), crdt.ErrInvalid},
		{"key over the limit", batchHead(5, 0, lo).u(1).by(flagItem(strings.Repeat("k", crdt.MaxKeyLen+1))...), crdt.ErrLimit},
		{"key not UTF-8", batchHead(5, 0, lo).u(1).by(flagItem("\xff")...), crdt.ErrInvalid},
		{"malformed item", batchHead(5, 0, lo).u(1).str("k").u(2).str(flagRoot).u(0), crdt.ErrInvalid},
		{"missing item", batchHead(5, 0, lo).u(2).by(flagItem("k")...), crdt.ErrInvalid},
		{"non-minimal clock", raw{1}.by(0x85, 0x00).u(0).ids().u(0), crdt.ErrInvalid},
	}
	checkRefused(t, cases, [][]byte{valid}, func(b []byte) error {
		_, err := crdt.UnmarshalBatch(b)
		return err
	})
}
