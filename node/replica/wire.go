package replica

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// Node-to-node messages: one byte of type, the sender's replica id, then
// the body. Peers are trusted to be Lattice nodes (gossip is encrypted and
// labelled), but their bytes are still decoded defensively.
const (
	msgEntries  byte = 'E' // origin, then (seq, entry) pairs: pushes and anti-entropy answers
	msgSyncReq  byte = 'S' // flags, then the sender's node version vector
	msgSyncVV   byte = 'V' // flags, origins hash, then one seq per origin: a short sync request
	msgStates   byte = 'O' // whole object states (full-state mode)
	msgPresence byte = 'P' // JSON list of presence states (node/api/presence.go): never stored

	// State transfer, for a peer that needs log entries this node no longer
	// keeps (see statesync.go).
	msgDigests byte = 'D' // session, final, (key, sha256 of its state)*
	msgWants   byte = 'W' // session, final, key*
	msgRange   byte = 'R' // session, key, index, total, lo, hi, object slice
	msgFinish  byte = 'F' // session, number of ranges sent, the sender's node version vector
)

// Sync request flags.
const (
	flagReply = 1 // a SyncReq answering one: do not answer it back
	flagFull  = 2 // the receiver could not read a short vector from us: send the full one
)

// MaxChunk keeps each message under transport.MaxMessageSize with room
// for framing.
const MaxChunk = 900 << 10

type message struct {
	kind    byte
	sender  crdt.ReplicaID
	origin  crdt.ReplicaID
	entries []store.LogEntry
	flags   byte
	vv      crdt.VersionVector
	ohash   uint64   // msgSyncVV: hash of the origins the seqs belong to
	seqs    []uint64 // msgSyncVV: per origin, in canonical order
	states  []crdt.BatchItem
	raw     []byte // the states' encoded batch

	presence []byte // msgPresence: a JSON list, read by its receiver

	session uint64
	final   bool
	digests []keyDigest
	keys    []string
	key     string
	index   uint64 // of a range among its object's ranges
	total   uint64
	lo, hi  string
	slice   *crdt.Object
	count   uint64
}

type keyDigest struct {
	key  string
	hash [32]byte
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func encodeDigests(sender crdt.ReplicaID, session uint64, final bool, ds []keyDigest) []byte {
	b := binary.AppendUvarint(appendHead(msgDigests, sender), session)
	b = appendBool(b, final)
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for _, d := range ds {
		b = append(appendStr(b, d.key), d.hash[:]...)
	}
	return b
}

func encodeWants(sender crdt.ReplicaID, session uint64, final bool, keys []string) []byte {
	b := binary.AppendUvarint(appendHead(msgWants, sender), session)
	b = appendBool(b, final)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendStr(b, k)
	}
	return b
}

func encodeRange(sender crdt.ReplicaID, session uint64, key string, index, total uint64, lo, hi string, slice []byte) []byte {
	b := binary.AppendUvarint(appendHead(msgRange, sender), session)
	b = appendStr(b, key)
	b = binary.AppendUvarint(b, index)
	b = binary.AppendUvarint(b, total)
	b = appendStr(appendStr(b, lo), hi)
	return append(b, slice...)
}

func encodeFinish(sender crdt.ReplicaID, session, count uint64, vv crdt.VersionVector) []byte {
	b := binary.AppendUvarint(appendHead(msgFinish, sender), session)
	b = binary.AppendUvarint(b, count)
	return appendVV(b, vv)
}

func appendVV(b []byte, vv crdt.VersionVector) []byte {
	rs := vv.Replicas()
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = append(b, r[:]...)
		b = binary.AppendUvarint(b, vv[r])
	}
	return b
}

// cursor reads a message body; the first error sticks and later reads
// return zero values, so decoders check once at the end.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s", crdt.ErrInvalid, fmt.Sprintf(format, args...))
	}
}

func (c *cursor) uvarint() uint64 {
	if c.err != nil {
		return 0
	}
	x, n := binary.Uvarint(c.b)
	if n <= 0 {
		c.fail("bad varint")
		return 0
	}
	c.b = c.b[n:]
	return x
}

func (c *cursor) bytes(n uint64) []byte {
	if c.err != nil {
		return nil
	}
	if n > uint64(len(c.b)) {
		c.fail("%d bytes wanted, %d left", n, len(c.b))
		return nil
	}
	s := c.b[:n:n]
	c.b = c.b[n:]
	return s
}

func (c *cursor) str() string { return string(c.bytes(c.uvarint())) }

func (c *cursor) bool() bool {
	b := c.bytes(1)
	return len(b) == 1 && b[0] == 1
}

// count reads an element count and checks it against the bytes left, each
// element taking at least min bytes, so no allocation outgrows the input.
func (c *cursor) count(min int) uint64 {
	n := c.uvarint()
	if n > uint64(len(c.b)/min) {
		c.fail("%d elements in %d bytes", n, len(c.b))
		return 0
	}
	return n
}

func (c *cursor) vv() crdt.VersionVector {
	n := c.count(17)
	vv := make(crdt.VersionVector, n)
	for i := uint64(0); i < n && c.err == nil; i++ {
		var r crdt.ReplicaID
		copy(r[:], c.bytes(16))
		vv[r] = c.uvarint()
	}
	return vv
}

func appendHead(kind byte, sender crdt.ReplicaID) []byte {
	return append([]byte{kind}, sender[:]...)
}

func encodeEntries(sender, origin crdt.ReplicaID, es []store.LogEntry) []byte {
	b := append(appendHead(msgEntries, sender), origin[:]...)
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = binary.AppendUvarint(b, e.Seq)
		b = binary.AppendUvarint(b, uint64(len(e.Raw)))
		b = append(b, e.Raw...)
	}
	return b
}

func encodeSyncReq(sender crdt.ReplicaID, flags byte, vv crdt.VersionVector) []byte {
	return appendVV(append(appendHead(msgSyncReq, sender), flags), vv)
}

// encodeSyncVV is a sync request whose vector names its origins by a hash
// of their canonical list (originsHash) instead of their ids: the receiver
// reads it against the origins of the last full vector it had from us, and
// asks for the full one (flagFull) when the hash does not match.
func encodeSyncVV(sender crdt.ReplicaID, flags byte, ohash uint64, seqs []uint64) []byte {
	b := binary.BigEndian.AppendUint64(append(appendHead(msgSyncVV, sender), flags), ohash)
	b = binary.AppendUvarint(b, uint64(len(seqs)))
	for _, s := range seqs {
		b = binary.AppendUvarint(b, s)
	}
	return b
}

// originsHash names a canonical list of origins in 8 bytes.
func originsHash(os []crdt.ReplicaID) uint64 {
	h := sha256.New()
	for _, o := range os {
		h.Write(o[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

func encodeStates(sender crdt.ReplicaID, batch []byte) []byte {
	return append(appendHead(msgStates, sender), batch...)
}

// decodeMessage parses a peer message; it never panics on bad bytes.
func decodeMessage(b []byte) (*message, error) {
	if len(b) < 17 {
		return nil, fmt.Errorf("%w: message of %d bytes", crdt.ErrInvalid, len(b))
	}
	m := &message{kind: b[0]}
	copy(m.sender[:], b[1:17])
	b = b[17:]
	switch m.kind {
	case msgEntries:
		c := &cursor{b: b}
		copy(m.origin[:], c.bytes(16))
		n := c.count(2)
		m.entries = make([]store.LogEntry, 0, n)
		for i := uint64(0); i < n && c.err == nil; i++ {
			seq := c.uvarint()
			raw := c.bytes(c.uvarint())
			if c.err == nil && seq == 0 {
				c.fail("entry %d has sequence 0", i)
			}
			m.entries = append(m.entries, store.LogEntry{Seq: seq, Raw: raw})
		}
		if c.err != nil {
			return nil, c.err
		}
		b = c.b
	case msgSyncReq:
		c := &cursor{b: b}
		if fl := c.bytes(1); len(fl) == 1 {
			m.flags = fl[0]
		}
		m.vv = c.vv()
		if c.err != nil {
			return nil, c.err
		}
		b = c.b
	case msgSyncVV:
		c := &cursor{b: b}
		if fl := c.bytes(1); len(fl) == 1 {
			m.flags = fl[0]
		}
		if h := c.bytes(8); len(h) == 8 {
			m.ohash = binary.BigEndian.Uint64(h)
		}
		n := c.count(1)
		m.seqs = make([]uint64, 0, n)
		for i := uint64(0); i < n && c.err == nil; i++ {
			m.seqs = append(m.seqs, c.uvarint())
		}
		if c.err != nil {
			return nil, c.err
		}
		b = c.b
	case msgDigests, msgWants, msgRange, msgFinish:
		c := &cursor{b: b}
		m.session = c.uvarint()
		switch m.kind {
		case msgDigests:
			m.final = c.bool()
			n := c.count(33)
			for i := uint64(0); i < n && c.err == nil; i++ {
				d := keyDigest{key: c.str()}
				copy(d.hash[:], c.bytes(32))
				m.digests = append(m.digests, d)
			}
		case msgWants:
			m.final = c.bool()
			n := c.count(1)
			for i := uint64(0); i < n && c.err == nil; i++ {
				m.keys = append(m.keys, c.str())
			}
		case msgRange:
			m.key = c.str()
			m.index, m.total = c.uvarint(), c.uvarint()
			m.lo, m.hi = c.str(), c.str()
			if c.err == nil && (m.total == 0 || m.index >= m.total) {
				c.fail("range %d of %d", m.index, m.total)
			}
			if c.err == nil {
				o, err := crdt.UnmarshalObject(c.b)
				if err != nil {
					return nil, fmt.Errorf("range of %q: %w", m.key, err)
				}
				m.slice, c.b = o, nil
			}
		case msgFinish:
			m.count = c.uvarint()
			m.vv = c.vv()
		}
		if c.err != nil {
			return nil, c.err
		}
		b = c.b
	case msgPresence:
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("%w: presence: %v", crdt.ErrInvalid, err)
		}
		m.presence = b
		b = nil
	case msgStates:
		batch, err := crdt.UnmarshalBatch(b)
		if err != nil {
			return nil, fmt.Errorf("states: %w", err)
		}
		m.states = batch.Items
		m.raw = b
		b = nil
	default:
		return nil, fmt.Errorf("%w: unknown message type 0x%02x", crdt.ErrInvalid, m.kind)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", crdt.ErrInvalid, len(b))
	}
	return m, nil
}
