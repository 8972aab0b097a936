package replica

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// wireSeeds are valid messages of every kind, for the fuzz corpus and the
// round-trip test.
func wireSeeds(t testing.TB) [][]byte {
	a, b := uuid.MustParse("00000000-0000-0000-0000-00000000000a"), uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	o := crdt.NewObject()
	d, err := o.Apply(a, crdt.Timestamp{Wall: 1000}, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := crdt.Batch{Clock: crdt.Timestamp{Wall: 1000}, Items: []crdt.BatchItem{{Key: "k", Delta: d}}}.MarshalBinary()
	slice, _ := o.Slice("", "").MarshalBinary()
	return [][]byte{
		encodeEntries(a, b, []store.LogEntry{{Seq: 1, Raw: entry}, {Seq: 2, Raw: entry}}),
		encodeSyncReq(a, flagReply, crdt.VersionVector{a: 3, b: 9}),
		encodeStates(a, entry),
		encodeDigests(a, 7, true, []keyDigest{{key: "k", hash: [32]byte{1}}}),
		encodeWants(a, 7, false, []string{"k", "board/1"}),
		encodeRange(a, 7, "k", 0, 1, "", "", slice),
		encodeFinish(a, 7, 3, crdt.VersionVector{b: 2}),
		encodeSyncVV(a, flagReply, originsHash([]crdt.ReplicaID{a, b}), []uint64{3, 9}),
		append(appendHead(msgPresence, a), `[{"key":"k","conn":"a/1","replica":"r","state":{"name":"ann"}}]`...),
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, s := range wireSeeds(t) {
		m, err := decodeMessage(s)
		if err != nil {
			t.Fatalf("decoding %q: %v", s[:1], err)
		}
		if m.kind != s[0] {
			t.Fatalf("kind %c, want %c", m.kind, s[0])
		}
	}
	m, _ := decodeMessage(wireSeeds(t)[1])
	if m.flags != flagReply || len(m.vv) != 2 {
		t.Fatalf("sync request decoded as %+v", m)
	}
}

func TestWireRejectsBadInput(t *testing.T) {
	valid := wireSeeds(t)
	cases := map[string][]byte{
		"empty":          nil,
		"short":          []byte("E1234"),
		"unknown kind":   append([]byte{'?'}, make([]byte, 16)...),
		"huge count":     append(append([]byte{'E'}, make([]byte, 32)...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"trailing bytes": append(bytes.Clone(valid[1]), 0),
		"range 1 of 1":   encodeRange(crdt.ReplicaID{}, 1, "k", 1, 1, "", "", nil),
	}
	for i, s := range valid {
		for cut := 17; cut < len(s); cut += 1 + len(s)/7 {
			cases[fmt.Sprintf("seed %d cut at %d", i, cut)] = s[:cut]
		}
	}
	for name, b := range cases {
		if _, err := decodeMessage(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzDecodeMessage: peer messages are untrusted bytes; decoding must never
// panic, and a decoded entries message re-encodes to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range wireSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		switch m.kind {
		case msgEntries:
			if again := encodeEntries(m.sender, m.origin, m.entries); !bytes.Equal(again, b) && len(m.entries) > 0 {
				// Non-minimal varints decode too; the entries must at least survive.
				if m2, err := decodeMessage(again); err != nil || len(m2.entries) != len(m.entries) {
					t.Fatalf("re-encoded entries do not decode: %v", err)
				}
			}
		}
	})
}

// TestWriteWireCorpus regenerates testdata/fuzz/FuzzDecodeMessage from
// wireSeeds when LATTICE_WRITE_CORPUS=1.
func TestWriteWireCorpus(t *testing.T) {
	if os.Getenv("LATTICE_WRITE_CORPUS") != "1" {
		t.Skip("set LATTICE_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeMessage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := wireSeeds(t)
	seeds = append(seeds, []byte("E"), append([]byte{'S'}, make([]byte, 20)...))
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
