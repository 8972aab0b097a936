package crdt_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// Benchmarks of every type's mutate, join, encode and decode, on states of
// the size a collaborative document reaches, plus the cost of one field
// write against the size of the map it lands in. They report the encoded
// sizes (bytes/state, bytes/delta) beside the time, since on the wire and
// on disk the bytes are the cost. Nothing here asserts a timing: CI only
// smoke-runs them (-bench . -benchtime 1x -run '^$').

// benchWall is the physical time the benchmarks' clocks start from.
const benchWall = 1_700_000_000_000

// benchReplica returns a fixed replica id, so runs are comparable.
func benchReplica(i int) crdt.ReplicaID {
	var r crdt.ReplicaID
	binary.BigEndian.PutUint64(r[8:], uint64(i)+1)
	return r
}

func benchTime(i int) crdt.Timestamp { return crdt.Timestamp{Wall: benchWall + int64(i)} }

// benchType is one type's workload. Each op touches its own leaf, and later
// writes cycle through the same ops, so a state keeps its size however many
// iterations run.
type benchType struct {
	name    string
	writers int // replicas that wrote the state, round robin
	ops     []crdt.Op
}

func benchTypes() []benchType {
	lwwField := func(path []string, v string) crdt.Op {
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: path, Value: crdt.String(v)}
	}
	var set, flat, nested, lww, mv []crdt.Op
	for i := range 1000 {
		set = append(set, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(fmt.Sprintf("item-%04d", i))})
		flat = append(flat, lwwField([]string{fmt.Sprintf("field-%04d", i)}, fmt.Sprintf("value %d", i)))
	}
	// Depth 2: 32 rows of 32 columns, alternately LWW and counter fields,
	// like a board of cards with titles and vote counts.
	for row := range 32 {
		for col := range 32 {
			path := []string{fmt.Sprintf("row-%02d", row), fmt.Sprintf("col-%02d", col)}
			if col%2 == 0 {
				nested = append(nested, lwwField(path, fmt.Sprintf("r%dc%d", row, col)))
			} else {
				nested = append(nested, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, Path: path, By: 1})
			}
		}
	}
	for i := range 8 {
		lww = append(lww, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String(fmt.Sprintf("title %d", i))})
		mv = append(mv, crdt.Op{Type: crdt.TypeMVRegister, Kind: crdt.OpSet, Value: crdt.MustInt(int64(1000 + i))})
	}
	return []benchType{
		{"gcounter", 64, []crdt.Op{{Type: crdt.TypeGCounter, Kind: crdt.OpInc, By: 1}}},
		{"counter", 64, []crdt.Op{
			{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 3},
			{Type: crdt.TypePNCounter, Kind: crdt.OpDec, By: 1},
		}},
		{"set", 8, set},
		{"map", 8, flat},
		{"map-nested", 8, nested},
		{"lww", 8, lww},
		{"mvreg", 8, mv},
		{"flag", 8, []crdt.Op{{Type: crdt.TypeEWFlag, Kind: crdt.OpEnable}}},
	}
}

// build returns the state the type's writers reach: every op applied once,
// and every writer having written at least once.
func (bt benchType) build(tb testing.TB) *crdt.Object {
	o := crdt.NewObject()
	n := max(len(bt.ops), bt.writers)
	for i := range n {
		benchApply(tb, o, benchReplica(i%bt.writers), i, bt.ops[i%len(bt.ops)])
	}
	return o
}

func benchApply(tb testing.TB, o *crdt.Object, r crdt.ReplicaID, i int, op crdt.Op) *crdt.Object {
	d, err := o.Apply(r, benchTime(i), op)
	if err != nil {
		tb.Fatalf("apply %v: %v", op, err)
	}
	return d
}

func benchEncode(tb testing.TB, o *crdt.Object) []byte {
	b, err := o.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchEachType runs fn as a sub-benchmark per type, on a freshly built state.
func benchEachType(b *testing.B, fn func(b *testing.B, bt benchType, state *crdt.Object)) {
	for _, bt := range benchTypes() {
		b.Run(bt.name, func(b *testing.B) { fn(b, bt, bt.build(b)) })
	}
}

// benchSized times body and reports size, the bytes each iteration
// handles, both as throughput and as a metric of its own. The metric is
// reported after the loop because b.Loop's first call clears metrics.
func benchSized(b *testing.B, size int, unit string, body func()) {
	b.SetBytes(int64(size))
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64(size), unit)
}

// BenchmarkApply is a local write into a state of realistic size: the
// mutator computes the delta and joins it in.
func BenchmarkApply(b *testing.B) {
	benchEachType(b, func(b *testing.B, bt benchType, st *crdt.Object) {
		local := benchReplica(0)
		var last *crdt.Object
		i := 0
		for b.Loop() {
			last = benchApply(b, st, local, i, bt.ops[i%len(bt.ops)])
			i++
		}
		b.ReportMetric(float64(len(benchEncode(b, last))), "bytes/delta")
	})
}

// benchDeltas is how many distinct deltas BenchmarkJoinDelta replays before
// it restores the state: enough to amortise the restore, which is untimed
// but not free.
const benchDeltas = 256

// BenchmarkJoinDelta joins a remote replica's deltas, each new to the
// receiver, into a state of realistic size: what a node does per write.
func BenchmarkJoinDelta(b *testing.B) {
	benchEachType(b, func(b *testing.B, bt benchType, base *crdt.Object) {
		remote := benchReplica(1)
		producer := base.Clone()
		deltas := make([]*crdt.Object, benchDeltas)
		total := 0
		for k := range deltas {
			deltas[k] = benchApply(b, producer, remote, len(bt.ops)+k, bt.ops[k%len(bt.ops)])
			total += len(benchEncode(b, deltas[k]))
		}
		avg := total / benchDeltas
		b.SetBytes(int64(avg))
		st := base.Clone()
		i := 0
		for b.Loop() {
			if i > 0 && i%benchDeltas == 0 {
				// The deltas are now all in st; start again from the base so
				// that every timed join is of a delta st has not seen.
				b.StopTimer()
				st = base.Clone()
				b.StartTimer()
			}
			st.Join(deltas[i%benchDeltas])
			i++
		}
		b.ReportMetric(float64(avg), "bytes/delta")
	})
}

// BenchmarkJoinState joins one replica's full state into another's after
// both wrote concurrently to a quarter of the leaves: what anti-entropy does
// when a log no longer covers the gap.
func BenchmarkJoinState(b *testing.B) {
	benchEachType(b, func(b *testing.B, bt benchType, base *crdt.Object) {
		mine, theirs := base.Clone(), base.Clone()
		n := len(bt.ops)
		for k := range max(1, n/4) {
			benchApply(b, mine, benchReplica(0), n+k, bt.ops[k%n])
			benchApply(b, theirs, benchReplica(1), n+k, bt.ops[(n/2+k)%n])
		}
		benchSized(b, len(benchEncode(b, theirs)), "bytes/state", func() {
			b.StopTimer()
			st := mine.Clone()
			b.StartTimer()
			st.Join(theirs)
		})
	})
}

// BenchmarkEncode is MarshalBinary of a whole state.
func BenchmarkEncode(b *testing.B) {
	benchEachType(b, func(b *testing.B, _ benchType, st *crdt.Object) {
		benchSized(b, len(benchEncode(b, st)), "bytes/state", func() {
			if _, err := st.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkDecode is UnmarshalObject of a whole state, which includes the
// re-encoding that proves the input canonical.
func BenchmarkDecode(b *testing.B) {
	benchEachType(b, func(b *testing.B, _ benchType, st *crdt.Object) {
		enc := benchEncode(b, st)
		benchSized(b, len(enc), "bytes/state", func() {
			if _, err := crdt.UnmarshalObject(enc); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkMapFieldWrite writes one field, and encodes the delta, in an
// empty map and in a map of 100,000 fields. The deltas differ only by the
// bytes of larger sequence numbers, and the time only by the in-memory
// index's logarithmic lookups: a write costs the size of its delta, not of
// the map. One replica writes every field, so that each write supersedes a
// write of its own in both maps and only the map's size differs.
func BenchmarkMapFieldWrite(b *testing.B) {
	local := benchReplica(0)
	field := func(i int) crdt.Op {
		return crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{fmt.Sprintf("field-%06d", i)}, Value: crdt.MustInt(int64(i % 64))}
	}
	for _, size := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("fields=%d", size), func(b *testing.B) {
			st := crdt.NewObject()
			for i := range size {
				benchApply(b, st, local, i, field(i))
			}
			// Writes cycle through fields spread over the map, each already
			// there (but for the very first write into the empty map).
			ops := make([]crdt.Op, max(1, min(size, benchDeltas)))
			for k := range ops {
				ops[k] = field(k * max(1, size/len(ops)))
			}
			var delta []byte
			i := 0
			for b.Loop() {
				d := benchApply(b, st, local, size+i, ops[i%len(ops)])
				var err error
				if delta, err = d.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(len(delta)), "bytes/delta")
		})
	}
}

// mergeWorkload is scenario 4 of lattice bench: three replicas set small
// integers on 102 fields of one map, each set's delta delivered as the
// one-item batch a peer or a client carries. It returns the batches, in
// order, and the state they converge to.
func mergeWorkload(tb testing.TB, writes int) ([][]byte, *crdt.Object) {
	states := []*crdt.Object{crdt.NewObject(), crdt.NewObject(), crdt.NewObject()}
	var out [][]byte
	for k := range writes {
		r := k % 3
		now := benchTime(k)
		d, err := states[r].Apply(benchReplica(r), now, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet,
			Path: []string{fmt.Sprintf("f%d", (k*37)%102)}, Value: crdt.MustInt(int64(k % 100))})
		if err != nil {
			tb.Fatal(err)
		}
		for j := range states {
			if j != r {
				states[j].Join(d)
			}
		}
		raw, err := crdt.Batch{Clock: now, Items: []crdt.BatchItem{{Key: "m", Delta: d}}}.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, raw)
	}
	return out, states[0]
}

// BenchmarkMergeBatch joins each one-item batch of a remote map set into
// a replica, in order (scenario 4 of lattice bench): decoded by
// UnmarshalBatch and then joined, and straight from its bytes by a Merger.
func BenchmarkMergeBatch(b *testing.B) {
	batches, _ := mergeWorkload(b, 3000)
	var m crdt.Merger
	for _, way := range []struct {
		name string
		join func(st *crdt.Object, raw []byte) error
	}{
		{"decode-then-join", func(st *crdt.Object, raw []byte) error {
			bt, err := crdt.UnmarshalBatch(raw)
			if err == nil {
				st.Join(bt.Items[0].Delta)
			}
			return err
		}},
		{"JoinBatch", func(st *crdt.Object, raw []byte) error {
			_, err := m.JoinBatchObjects(raw, func(string) *crdt.Object { return st })
			return err
		}},
	} {
		b.Run(way.name, func(b *testing.B) {
			st := crdt.NewObject()
			i := 0
			for b.Loop() {
				if i == len(batches) {
					b.StopTimer()
					st, i = crdt.NewObject(), 0
					b.StartTimer()
				}
				if err := way.join(st, batches[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
