package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"

	"github.com/lattice-sync/lattice/crdt"
)

// Delta frames as the two encodings (JSON and binary) put them on the wire.

// deltaFrameJSON is a live or catch-up delta message.
func deltaFrameJSON(cursor []byte, key string, d *crdt.Object) ([]byte, error) {
	dj, err := d.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b := append([]byte(`{"t":"delta","key":`), jsonString(key)...)
	b = append(b, `,"delta":`...)
	b = append(b, dj...)
	b = append(b, `,"cursor":`...)
	b = append(b, cursor...)
	return append(b, '}'), nil
}

// deltaFrameBinary is the binary form: 'd', the cursor's JSON with its
// length, a one-item batch.
func deltaFrameBinary(n *Backend, cursor []byte, key string, d *crdt.Object) ([]byte, error) {
	raw, err := crdt.Batch{Clock: n.Store.Now(), Items: []crdt.BatchItem{{Key: key, Delta: d}}}.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint([]byte{'d'}, uint64(len(cursor)))
	b = append(b, cursor...)
	return append(b, raw...), nil
}

// marshalWS encodes a message without HTML escaping, so that embedded
// canonical JSON stays canonical.
func marshalWS(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own message types reach here
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func jsonString(s string) []byte { return marshalWS(s) }
