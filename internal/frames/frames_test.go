package frames

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

var (
	ra = uuid.MustParse("6f1c1a52-3b0e-4c55-9a7e-1d2f3a4b5c01")
	rb = uuid.MustParse("6f1c1a52-3b0e-4c55-9a7e-1d2f3a4b5c02")
	nd = uuid.MustParse("0a000000-0000-4000-8000-000000000001")
)

// sets makes n map sets alternating between two replicas on one object,
// each delta superseding the last (so later ones name both replicas).
func sets(t testing.TB, n int) []Item {
	t.Helper()
	o := crdt.NewObject()
	var its []Item
	for k := range n {
		r := []crdt.ReplicaID{ra, rb}[k%2]
		now := crdt.Timestamp{Wall: 1_700_000_000_000 + int64(k), Logical: uint32(k % 3)}
		d, err := o.Apply(r, now, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"f"}, Value: crdt.MustInt(int64(k))})
		if err != nil {
			t.Fatal(err)
		}
		key := "doc/a"
		if k%4 == 3 {
			key = "doc/b"
		}
		it, err := NewItem(key, d, now)
		if err != nil {
			t.Fatal(err)
		}
		its = append(its, it)
	}
	return its
}

func ptrs(its []Item) []*Item {
	ps := make([]*Item, len(its))
	for i := range its {
		ps[i] = &its[i]
	}
	return ps
}

func sameItems(t *testing.T, got, want []Item) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i := range got {
		if string(got[i].Batch()) != string(want[i].Batch()) {
			t.Fatalf("item %d: %+v, want %+v", i, got[i], want[i])
		}
		if _, err := got[i].Decode(); err != nil {
			t.Fatalf("item %d does not decode: %v", i, err)
		}
	}
}

// TestDeltasRoundTrip: a stream of client frames read in order gives back
// every item and id, and a replica id crosses once.
func TestDeltasRoundTrip(t *testing.T) {
	its := sets(t, 40)
	var w Writer
	var rd Reader
	id := uint64(7)
	total := 0
	for i := 0; i < len(its); {
		n := 1 + i%5
		n = min(n, len(its)-i)
		f := w.AppendDeltas(nil, id, ptrs(its[i:i+n]))
		total += len(f)
		first, ok, got, err := rd.ReadDeltas(f)
		if err != nil || !ok || first != id {
			t.Fatalf("frame %d: first %d ok %v err %v, want id %d", i, first, ok, err, id)
		}
		sameItems(t, got, its[i:i+n])
		id += uint64(n) + uint64(i%3) // ids may skip
		i += n
	}
	if len(rd.table.ids) != 2 {
		t.Fatalf("table %v, want the two writers", rd.table.ids)
	}
	full := 0
	for _, it := range its {
		full += len(it.Batch())
	}
	if total*2 > full {
		t.Fatalf("compact frames %d B, one-item batches %d B: want less than half", total, full)
	}
}

// TestLiveRoundTrip: the cursor goes as its changed entries and reads back
// whole.
func TestLiveRoundTrip(t *testing.T) {
	its := sets(t, 18)
	var w Writer
	var rd Reader
	start := crdt.VersionVector{nd: 5, rb: 2}
	w.SetCursor(start)
	rd.SetCursor(start)
	cursors := []crdt.VersionVector{{nd: 6, rb: 2}, {nd: 6, rb: 2}, {nd: 9, ra: 1}, {nd: 10, ra: 1, rb: 4}, {nd: 11, ra: 1, rb: 4}, {nd: 12, ra: 1, rb: 4}}
	for i, cur := range cursors {
		f := w.AppendLive(nil, cur, ptrs(its[3*i:3*i+3]))
		if i == 5 && f[1] != 1<<1|1 {
			t.Fatalf("frame %d: cursor %x, want the last change again in one byte", i, f[1])
		}
		got, err := rd.ReadLive(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		sameItems(t, got, its[3*i:3*i+3])
		if !reflect.DeepEqual(rd.Cursor(), cur) {
			t.Fatalf("frame %d: cursor %v, want %v", i, rd.Cursor(), cur)
		}
		if n, ok := LiveCount(f); !ok || n != 3 {
			t.Fatalf("LiveCount %d %v, want 3", n, ok)
		}
	}
}

// TestBadFrameLeavesReader: a frame that does not decode is refused with
// ErrFrame and changes nothing, so the next good frame still reads.
func TestBadFrameLeavesReader(t *testing.T) {
	its := sets(t, 4)
	var w Writer
	var rd Reader
	good := w.AppendDeltas(nil, 1, ptrs(its[:2]))
	if _, _, _, err := rd.ReadDeltas(good); err != nil {
		t.Fatal(err)
	}
	next := w.AppendDeltas(nil, 3, ptrs(its[2:])) // written against the state after good
	for cut := 1; cut < len(next); cut++ {
		before := rd.save()
		_, _, its, err := rd.ReadDeltas(next[:cut])
		if err == nil {
			// Cut inside the last body, which runs to the frame's end:
			// the frame reads, the delta does not decode.
			if _, derr := its[len(its)-1].Decode(); derr == nil {
				t.Fatalf("cut at %d: the last delta decodes", cut)
			}
			rd.restore(before)
			continue
		}
		if !errors.Is(err, ErrFrame) {
			t.Fatalf("cut at %d: %v, want ErrFrame", cut, err)
		}
		if after := rd.save(); !reflect.DeepEqual(before, after) || len(rd.table.index) != len(rd.table.ids) {
			t.Fatalf("cut at %d changed the reader: %+v -> %+v", cut, before, after)
		}
	}
	first, _, got, err := rd.ReadDeltas(next)
	if err != nil || first != 3 {
		t.Fatalf("%d %v", first, err)
	}
	sameItems(t, got, its[2:])
	for want, bad := range map[string][]byte{
		"bad varint":                          {'B'},
		"not a deltas frame":                  {'X', 0, 2},
		"written long":                        {'B', 1, 1, 3, 1, 'k', 0},
		"repeats a key before any":            {'B', 0, headSameKey | headSameReps},
		"beyond the table":                    {'B', 0, 0, 1, 'k', 2, 9},
		"index 0 beyond the table":            {'B', 0, 0, 1, 'k', 3},
		"previous replica list written again": {'B', 0, 0, 1, 'k', 1},
		"varint not minimal":                  {'B', 0x80, 0},
		"not sorted or has duplicates":        slices.Concat([]byte{'B', 0, 0, 1, 'k', 4, 0}, rb[:], []byte{0}, ra[:]),
		"small clock difference written long": {'B', 0, headWallEsc << 3, 1, 'k', 5},
	} {
		if _, _, _, err := (&Reader{}).ReadDeltas(bad); !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrFrame: %s", bad, err, want)
		}
	}
}

// TestTableFull: past MaxTable a replica goes in full each time, on both
// sides alike.
func TestTableFull(t *testing.T) {
	var w Writer
	var rd Reader
	var ids []crdt.ReplicaID
	for range MaxTable + 3 {
		ids = append(ids, uuid.New())
	}
	for i := 0; i < len(ids); i += 64 {
		cur := crdt.VersionVector{}
		for _, r := range ids[i:min(i+64, len(ids))] {
			cur[r] = 1
		}
		it := sets(t, 1)
		if _, err := rd.ReadLive(w.AppendLive(nil, cur, ptrs(it))); err != nil {
			t.Fatal(err)
		}
	}
	last := ids[len(ids)-1]
	f := w.AppendLive(nil, crdt.VersionVector{last: 2}, ptrs(sets(t, 1)))
	if _, err := rd.ReadLive(f); err != nil {
		t.Fatal(err)
	}
	if rd.Cursor()[last] != 2 || len(rd.table.ids) != MaxTable {
		t.Fatalf("cursor %d, table %d", rd.Cursor()[last], len(rd.table.ids))
	}
}

// seeds are frames for the fuzz targets: a session's good frames in order
// and broken ones.
func seeds(t testing.TB) (deltas, live [][]byte) {
	its := sets(t, 8)
	var w, wl Writer
	deltas = append(deltas, w.AppendDeltas(nil, 1, ptrs(its[:3])), w.AppendDeltas(nil, 4, ptrs(its[3:])))
	deltas = append(deltas, []byte{'B', 0, headSameKey}, []byte{'B', 0, 0, 1, 'k', 2, 9}, []byte("B"))
	live = append(live, wl.AppendLive(nil, crdt.VersionVector{nd: 3}, ptrs(its[:5])), wl.AppendLive(nil, crdt.VersionVector{nd: 4, ra: 1}, ptrs(its[5:])))
	live = append(live, []byte{'L', 1, 0}, []byte{'L', 0, headSameKey}, []byte("L"))
	return deltas, live
}

// fuzzSession runs a stream of frames cut from data through a reader:
// whatever the bytes, no panic; a refused frame leaves the reader as it
// was; a read frame's items survive writing out again and reading back.
func fuzzSession(t *testing.T, data []byte, read func(rd *Reader, f []byte) ([]Item, error), write func(w *Writer, its []*Item) []byte) {
	var rd Reader
	for len(data) > 0 {
		n := min(int(data[0])+1, len(data)-1)
		f := data[1 : 1+n]
		data = data[1+n:]
		before := rd.save()
		its, err := read(&rd, f)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("%q: %v does not wrap ErrFrame", f, err)
			}
			if !reflect.DeepEqual(before, rd.save()) {
				t.Fatalf("%q: a refused frame changed the reader", f)
			}
			continue
		}
		again, err := read(&Reader{}, write(&Writer{}, ptrs(its)))
		if err != nil {
			t.Fatalf("%q: written again does not read: %v", f, err)
		}
		for i := range its {
			if string(its[i].Batch()) != string(again[i].Batch()) {
				t.Fatalf("%q: item %d changed on the way round", f, i)
			}
		}
	}
}

func stream(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		if len(f) == 0 || len(f) > 256 {
			continue
		}
		b = append(append(b, byte(len(f)-1)), f...)
	}
	return b
}

// FuzzReadDeltas: client frames (untrusted) through a session reader.
func FuzzReadDeltas(f *testing.F) {
	d, _ := seeds(f)
	f.Add(stream(d...))
	for _, s := range d {
		f.Add(stream(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSession(t, data, func(rd *Reader, fr []byte) ([]Item, error) {
			_, _, its, err := rd.ReadDeltas(fr)
			return its, err
		}, func(w *Writer, its []*Item) []byte { return w.AppendDeltas(nil, 1, its) })
	})
}

// FuzzReadLive: node frames through a client's session reader (a client
// must not trust a node it is pointed at to be well-formed either).
func FuzzReadLive(f *testing.F) {
	_, l := seeds(f)
	f.Add(stream(l...))
	for _, s := range l {
		f.Add(stream(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSession(t, data, func(rd *Reader, fr []byte) ([]Item, error) { return rd.ReadLive(fr) },
			func(w *Writer, its []*Item) []byte { return w.AppendLive(nil, nil, its) })
	})
}

// TestWriteFramesCorpus regenerates testdata/fuzz from seeds when
// LATTICE_WRITE_CORPUS=1.
func TestWriteFramesCorpus(t *testing.T) {
	if os.Getenv("LATTICE_WRITE_CORPUS") != "1" {
		t.Skip("set LATTICE_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	d, l := seeds(t)
	for target, ss := range map[string][][]byte{"FuzzReadDeltas": d, "FuzzReadLive": l} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		all := append([][]byte{stream(ss...)}, ss...)
		for i, s := range all {
			if i > 0 {
				s = stream(s)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBadLiveFrames: a live frame whose cursor does not decode is refused.
func TestBadLiveFrames(t *testing.T) {
	full := append([]byte{0}, nd[:]...)
	item := []byte{headSameReps, 1, 'k', 7}
	for want, bad := range map[string][]byte{
		"below 0":                     slices.Concat([]byte{'L', 1 << 2}, full, []byte{1}, item),
		"unchanged":                   slices.Concat([]byte{'L', 1 << 2}, full, []byte{0}, item),
		"cursor entry count":          {'L', 1, 0}, // a count of 0 written long
		"not sorted":                  slices.Concat([]byte{'L', 2 << 2, 0}, rb[:], []byte{2}, full, []byte{2}, item),
		"not a live frame":            {'B', 0, 0},
		"beyond the table":            slices.Concat([]byte{'L', 1 << 2, 5, 2}, item),
		"repeats a change before any": slices.Concat([]byte{'L', 1 << 1}, item),
		"repeats a key":               {'L', 0, headSameKey, 1},
		"entry count":                 {'L', 9 << 2, 0},
	} {
		var rd Reader
		if _, err := rd.ReadLive(bad); !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrFrame: %s", bad, err, want)
		}
		if len(rd.table.ids) != 0 || rd.cursor != nil {
			t.Errorf("%q: the reader changed", bad)
		}
	}
}

// TestFrameItemsBounded: a frame may count at most MaxItems items; a
// reader refuses one that counts more before reading or allocating for
// any, and stays as it was, so the next frame reads.
func TestFrameItemsBounded(t *testing.T) {
	its := sets(t, MaxItems+1)
	var w Writer
	var rd Reader
	f := w.AppendDeltas(nil, 1, ptrs(its))
	allocs := testing.AllocsPerRun(1, func() {
		var r Reader
		if _, _, _, err := r.ReadDeltas(f); err == nil || !strings.Contains(err.Error(), "item count") {
			t.Fatalf("a frame of %d items: %v, want refused by its count", len(its), err)
		}
	})
	if allocs > 20 {
		t.Fatalf("refusing the frame allocated %v times", allocs)
	}
	if _, _, _, err := rd.ReadDeltas(f); err == nil {
		t.Fatal("a frame over MaxItems was read")
	}
	var w2 Writer
	ok := w2.AppendDeltas(nil, 1, ptrs(its[:MaxItems]))
	if _, _, got, err := rd.ReadDeltas(ok); err != nil || len(got) != MaxItems {
		t.Fatalf("a frame of MaxItems after a refused one: %d items, %v", len(got), err)
	}
}
