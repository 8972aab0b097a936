package crdt

// Counter entries in binary version 2 (codec_binary.go): a counter leaf's
// entries are in replica table order, so each names its replica by the
// step from the previous entry's, one byte with its sequence in the common
// case, and its totals follow without N when N is 0. With the context's
// vector written the same way, a counter of many writers costs each writer
// its 16-byte id and about three bytes.

func (h *header) appendCounterEntries(b []byte, es []Entry) []byte {
	prev := -1
	for _, e := range es {
		i := h.at(e.Dot.Replica)
		x := e.Dot.Seq << 2
		if e.N != 0 {
			x |= 1
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
		e.Dot = Dot{Replica: h.replicas[prev], Seq: x >> 2}
		if e.Dot.Seq == 0 || e.Dot.Seq > MaxSeq {
			return nil, r.errf("leaf %s: dot sequence %d out of range", p, e.Dot.Seq)
		}
		if j > 0 && compareDot(es[j-1].Dot, e.Dot) >= 0 {
			return nil, r.errf("leaf %s: dots not in order", p)
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
