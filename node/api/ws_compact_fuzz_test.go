package api

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/node/store"
)

var fuzzClient = uuid.MustParse("8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b")

// compactSeeds are streams of client frames of the compact encoding (each
// frame a length byte, then the frame), good and bad: the seed corpus of
// FuzzWSCompact.
func compactSeeds(t testing.TB) [][]byte {
	var fw frames.Writer
	objs := map[string]*crdt.Object{}
	item := func(key string, op crdt.Op) *frames.Item {
		if objs[key] == nil {
			objs[key] = crdt.NewObject()
		}
		now := crdt.Timestamp{Wall: time.Now().UnixMilli()}
		d, err := objs[key].Apply(fuzzClient, now, op)
		if err != nil {
			t.Fatal(err)
		}
		it, err := frames.NewItem(key, d, now)
		if err != nil {
			t.Fatal(err)
		}
		return &it
	}
	a := fw.AppendDeltas(nil, 1, []*frames.Item{item("c/1", wsInc), item("c/1", wsInc), item("c/2", wsInc)})
	b := fw.AppendDeltas(nil, 4, []*frames.Item{item("s/1", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})})
	frame := func(fs ...[]byte) []byte {
		var out []byte
		for _, f := range fs {
			out = append(append(out, byte(len(f)-1)), f...)
		}
		return out
	}
	return [][]byte{frame(a, b), frame(a), frame(b), frame(a[:len(a)-2], a), frame([]byte{'B', 0, 1, 0}), frame([]byte{'D', 1, 0})}
}

// FuzzWSCompact feeds a stream of binary frames to a compact session on a
// real node: whatever the bytes, nothing panics, every reply is one JSON
// object, and nothing stored names a replica other than the client's.
func FuzzWSCompact(f *testing.F) {
	for _, s := range compactSeeds(f) {
		f.Add(s)
	}
	n, h := fuzzWSNode(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		all := data
		c := newWSConn(h, nil)
		defer c.cancel()
		c.replica, c.binary, c.compact = fuzzClient, true, true
		var shadow frames.Reader // what the session read, to find the keys
		keys := map[string]bool{}
		for len(data) > 1 {
			l := min(int(data[0])+1, len(data)-1)
			fr := data[1 : 1+l]
			data = data[1+l:]
			c.handleBinary(fr)
			if _, _, its, err := shadow.ReadDeltas(fr); err == nil {
				for _, it := range its {
					keys[it.Key] = true
				}
			}
		}
		c.deltas.Wait()
		for key := range keys {
			if store.CheckKey(key) != nil {
				continue
			}
			o, err := n.Store.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			if rs := o.Replicas(); len(rs) > 1 || len(rs) == 1 && rs[0] != fuzzClient {
				t.Fatalf("%q stored replicas %v; only %s writes here", key, rs, fuzzClient)
			}
		}
		checkReplies(t, c, all)
	})
}

// TestWriteCompactCorpus regenerates testdata/fuzz/FuzzWSCompact when
// LATTICE_WRITE_CORPUS=1.
func TestWriteCompactCorpus(t *testing.T) {
	if os.Getenv("LATTICE_WRITE_CORPUS") != "1" {
		t.Skip("set LATTICE_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWSCompact")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range compactSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
