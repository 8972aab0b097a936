package crdt

import (
	"fmt"
	"unicode/utf8"
)

// Encoding of text pieces, binary:
//
//	piece := dot uvarint(len<<1 | live) origin [string]
//	origin := uvarint(0)                   the root (always a right child)
//	        | uvarint(1)                   the dot before, right side: a piece
//	                                       cut by a block boundary
//	        | uvarint(dotcode<<1 | left)   any other dot (dotcode as in dot)
//
// and JSON [REPLICA,SEQ,LEN,ORIGIN,VALUE] with ORIGIN null for the root or
// [REPLICA,SEQ,"left"|"right"] and VALUE the characters or null once
// deleted. A live piece's string holds exactly len code points.

func (h *header) appendPiece(b []byte, e Entry) []byte {
	x := e.Len << 1
	if e.live() {
		x |= 1
	}
	b = appendUvarint(b, x)
	switch {
	case e.Origin == Dot{}:
		b = appendUvarint(b, 0)
	case isContinuation(e):
		b = appendUvarint(b, 1)
	default:
		code := e.Origin.Seq*uint64(len(h.replicas)) + uint64(h.at(e.Origin.Replica))
		x := code << 1
		if e.Left {
			x |= 1
		}
		b = appendUvarint(b, x)
	}
	if e.live() {
		b = appendString(b, e.V.s)
	}
	return b
}

// isContinuation reports whether e's origin is the dot just before its own,
// on the right: what a piece cut at a block boundary has.
func isContinuation(e Entry) bool {
	return !e.Left && e.Origin.Replica == e.Dot.Replica && e.Origin.Seq+1 == e.Dot.Seq
}

// piece reads a piece's payload into e, whose dot is read.
func (r *reader) piece(h *header, e *Entry) error {
	x, err := r.uvarint()
	if err != nil {
		return err
	}
	e.Len = x >> 1
	if e.Len == 0 || e.Len > TextBlock {
		return r.errf("piece of %d characters", e.Len)
	}
	o, err := r.uvarint()
	if err != nil {
		return err
	}
	switch {
	case o == 0:
	case o == 1:
		if e.Dot.Seq == 1 {
			return r.errf("piece at sequence 1 continues nothing")
		}
		e.Origin = Dot{Replica: e.Dot.Replica, Seq: e.Dot.Seq - 1}
	default:
		n := uint64(len(h.replicas))
		code := o >> 1
		e.Origin, e.Left = Dot{Replica: h.replicas[code%n], Seq: code / n}, o&1 == 1
		if e.Origin.Seq == 0 || e.Origin.Seq > MaxSeq {
			return r.errf("origin sequence %d out of range", e.Origin.Seq)
		}
		if isContinuation(*e) {
			return r.errf("origin written in the long form")
		}
	}
	if x&1 == 1 {
		s, err := r.string()
		if err != nil {
			return err
		}
		e.V = Value{kind: KindString, s: s}
	}
	return nil
}

// checkPieces validates a text leaf's pieces (or a list's positions, which
// are pieces whose value is always null) as a decoder received them,
// in dot order: each whole, in the leaf's block, not overlapping, its
// string valid UTF-8 of exactly Len code points. It returns them in
// canonical (maximal) form, which the binary decoder then insists the
// input was. It works piece by piece, never character by character: a
// deleted piece of TextBlock characters is a few bytes of input.
func checkPieces(p Path, es []Entry) ([]Entry, error) {
	blk := p.Segs[len(p.Segs)-1].Block
	var prevEnd uint64
	for i, e := range es {
		if e.Len == 0 || e.Len > TextBlock {
			return nil, fmt.Errorf("%w: leaf %s: piece of %d characters", ErrInvalid, p, e.Len)
		}
		if e.Dot.Replica != blk.Replica || e.Dot.Seq < blk.Seq || e.Dot.Seq+e.Len > blk.Seq+TextBlock {
			return nil, fmt.Errorf("%w: leaf %s: piece %s+%d outside its block", ErrInvalid, p, e.Dot, e.Len)
		}
		if i > 0 && e.Dot.Seq < prevEnd {
			return nil, fmt.Errorf("%w: leaf %s: pieces overlap at %s", ErrInvalid, p, e.Dot)
		}
		prevEnd = e.Dot.Seq + e.Len
		if e.Origin == (Dot{}) && e.Left {
			return nil, fmt.Errorf("%w: leaf %s: the root has no left children", ErrInvalid, p)
		}
		if e.live() && p.Segs[len(p.Segs)-1].Type == TypeList {
			return nil, fmt.Errorf("%w: leaf %s: a list's positions hold no value", ErrInvalid, p)
		}
		if e.live() {
			if !utf8.ValidString(e.V.s) {
				return nil, fmt.Errorf("%w: leaf %s: piece is not valid UTF-8", ErrInvalid, p)
			}
			if n := utf8.RuneCountInString(e.V.s); uint64(n) != e.Len {
				return nil, fmt.Errorf("%w: leaf %s: piece of %d characters holds %d", ErrInvalid, p, e.Len, n)
			}
		} else if e.V.kind != KindNull {
			return nil, fmt.Errorf("%w: leaf %s: a piece's value is a string or null", ErrInvalid, p)
		}
	}
	return mergePieces(append([]Entry(nil), es...)), nil
}

// extends reports whether piece e continues piece prev: the same piece
// written in two parts.
func extends(prev, e Entry) bool {
	return e.Dot.Replica == prev.Dot.Replica && e.Dot.Seq == prev.Dot.Seq+prev.Len &&
		isContinuation(e) && e.live() == prev.live() && (e.Dot.Seq-1)%TextBlock != 0
}
