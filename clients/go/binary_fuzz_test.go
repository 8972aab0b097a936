package lattice

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
)

// FuzzSnapshotFrame: binary snapshot pages from a node, whatever their
// bytes, decode or are refused without a panic; a page that decodes says
// either its cursor (the last) or its resume position (the others).
func FuzzSnapshotFrame(f *testing.F) {
	r := uuid.MustParse("8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b")
	d, err := crdt.NewObject().Apply(r, crdt.Timestamp{Wall: 5}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2})
	if err != nil {
		f.Fatal(err)
	}
	raw, err := crdt.Batch{Clock: crdt.Timestamp{Wall: 9}, Items: []crdt.BatchItem{{Key: "k", Delta: d}}}.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	page := func(sub uint64, done byte, pos string) []byte {
		b := binary.AppendUvarint([]byte{'s'}, sub)
		b = append(b, done)
		b = binary.AppendUvarint(b, uint64(len(pos)))
		return append(append(b, pos...), raw...)
	}
	f.Add(page(7, 1, `{"`+r.String()+`":3}`))
	f.Add(page(7, 0, `{"base":{},"key":"k","leaf":"/w==","replica":"`+uuid.Nil.String()+`","seq":0}`))
	f.Add(page(1, 2, `{}`))
	f.Add([]byte{'s'})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		m, states, _, err := snapshotFrame(data)
		if err != nil {
			return
		}
		if m.Done == (m.Resume != nil) || m.Sub == nil || m.Resume != nil && !json.Valid(m.Resume) {
			t.Fatalf("%q: page %+v", data, m)
		}
		for _, s := range states {
			if s.obj == nil {
				t.Fatalf("%q: %q decoded to nothing", data, s.key)
			}
		}
	})
}
