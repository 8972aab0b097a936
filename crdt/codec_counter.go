package crdt

import "fmt"

// Counter entries in binary versions 2 and 3 (codec_binary.go): a counter leaf's
// entries are in replica table order, so each names its replica by the
// step from the previous entry's, one byte with its sequence in the common
// case, and its totals follow without N when N is 0. With the context's
// vector written the same way, a counter of many writers costs each writer
// its 16-byte id and about three bytes.
//
// Version 3 adds a bit for a base (fold.go): uvarint(seq<<3 | base<<2 |
// stepped<<1 | hasN). A base is its writer's first entry, so a writer has
// at most one and no raw entry at or below it.

// counterShift is where the sequence starts in a counter entry's first
// uvarint.
func (h *header) counterShift() uint {
	if h.version >= 3 {
		return 3
	}
	return 2
}

func (h *header) appendCounterEntries(b []byte, es []Entry) []byte {
	prev := -1
	shift := h.counterShift()
	for _, e := range es {
		i := h.at(e.Dot.Replica)
		x := e.Dot.Seq << shift
		if e.N != 0 {
			x |= 1
		}
		if e.Base {
			if shift < 3 {
				panic(fmt.Sprintf("crdt: a counter base in binary version %d", h.version))
			}
			x |= 4
		}
		if step := i - prev; step == 1 {
			b = appendUvarint(b, x)
		} else {
			b = appendUvarint(appendUvarint(b, x|2), uint64(step))
		}
		prev = i
		b = appendUvarint(b, e.P)
		if e.N != 0 {
			b = appendUvarint(b, e.N)
		}
	}
	return b
}

// counterEntries reads what appendCounterEntries wrote into es, checking
// what the version 1 reader checks: dots in order and in range, totals
// within MaxSafeInt.
func (r *reader) counterEntries(h *header, p Path, es []Entry) ([]Entry, error) {
	prev := -1
	shift := h.counterShift()
	for j := range es {
		e := &es[j]
		x, err := r.uvarint()
		if err != nil {
			return nil, r.errf("leaf %s: %v", p, err)
		}
		step := uint64(1)
		if x&2 != 0 {
			if step, err = r.uvarint(); err != nil {
				return nil, r.errf("leaf %s: %v", p, err)
			}
		}
		if step > uint64(len(h.replicas)) || uint64(prev+1)+step-1 >= uint64(len(h.replicas)) {
			return nil, r.errf("leaf %s: replica index out of range", p)
		}
		prev = prev + int(step)
		e.Dot = Dot{Replica: h.replicas[prev], Seq: x >> shift}
		e.Base = shift == 3 && x&4 != 0
		if e.Dot.Seq == 0 || e.Dot.Seq > MaxSeq {
			return nil, r.errf("leaf %s: dot sequence %d out of range", p, e.Dot.Seq)
		}
		if j > 0 && compareDot(es[j-1].Dot, e.Dot) >= 0 {
			return nil, r.errf("leaf %s: dots not in order", p)
		}
		if e.Base && j > 0 && es[j-1].Dot.Replica == e.Dot.Replica {
			return nil, r.errf("leaf %s: base %s is not its writer's first entry", p, e.Dot)
		}
		if e.P, err = r.uvarint(); err == nil && x&1 != 0 {
			e.N, err = r.uvarint()
		}
		if err != nil {
			return nil, r.errf("leaf %s: %v", p, err)
		}
		if e.P > MaxSafeInt || e.N > MaxSafeInt {
			return nil, r.errf("leaf %s: counter total beyond 2^53-1", p)
		}
	}
	return es, nil
}
