package crdt

import (
	"encoding/json"
	"fmt"
)

// What the decoders read of a list: the segments below it in a path (binary
// keys and JSON paths) and the checks on an element's entries. An element
// entry is written, binary, as dot timestamp dot(position) value
// (codec_parts.go), JSON as [REPLICA,SEQ,WALL,LOGICAL,[PREP,PSEQ],VALUE]
// (codec_json.go); a list's positions are text pieces (text_codec.go).

// listSegment reads the segment below a list: a block of its positions or
// an element.
func (r *reader) listSegment(p Path) (Segment, error) {
	tag, err := r.byte()
	if err != nil || tag > 1 {
		return Segment{}, fmt.Errorf("%w: path %s: a list leaf needs a block or an element", ErrInvalid, p)
	}
	rb, err := r.bytes(16)
	if err != nil {
		return Segment{}, fmt.Errorf("path %s: %w", p, err)
	}
	var rep ReplicaID
	copy(rep[:], rb)
	i, err := r.uvarint()
	if err != nil {
		return Segment{}, fmt.Errorf("path %s: %w", p, err)
	}
	if tag == 0 {
		if i > (MaxSeq-1)/TextBlock {
			return Segment{}, fmt.Errorf("%w: path %s: block %d out of range", ErrInvalid, p, i)
		}
		return ListBlockOf(Dot{Replica: rep, Seq: i*TextBlock + 1}), nil
	}
	if i == 0 || i > MaxSeq {
		return Segment{}, fmt.Errorf("%w: path %s: element sequence %d out of range", ErrInvalid, p, i)
	}
	k, err := r.byte()
	if err != nil {
		return Segment{}, fmt.Errorf("path %s: %w", p, err)
	}
	if Type(k) != TypeLWW && Type(k) != TypeORMap {
		return Segment{}, fmt.Errorf("%w: path %s: a list element is an lww or a map, not type %d", ErrInvalid, p, k)
	}
	return ItemSeg(Dot{Replica: rep, Seq: i}, Type(k)), nil
}

// listMapItem stands, while a JSON path is read, for a list's map element:
// the path may end there (the element's own leaf) or go on with its fields.
const listMapItem = Type(0xff)

// listSegment reads the segment below a list: [REPLICA,SEQ] for a block of
// its positions (SEQ the block's first sequence), [REPLICA,SEQ,KIND] for an
// element, KIND "lww" (a scalar) or "map".
func (r *jsonReader) listSegment(p Path) (Segment, error) {
	if err := r.delim('[', "list segment"); err != nil {
		return Segment{}, err
	}
	d, err := r.dot()
	if err != nil {
		return Segment{}, err
	}
	t, err := r.token()
	if err != nil {
		return Segment{}, err
	}
	if t == json.Delim(']') {
		if (d.Seq-1)%TextBlock != 0 {
			return Segment{}, r.errf("path %s: block sequence %d is not 1 more than a multiple of %d", p, d.Seq, TextBlock)
		}
		return ListBlockOf(d), nil
	}
	k, ok := t.(string)
	if !ok || k != "lww" && k != "map" {
		return Segment{}, r.errf("path %s: a list element's kind is \"lww\" or \"map\", not %s", p, describe(t))
	}
	kind := TypeLWW
	if k == "map" {
		kind = TypeORMap
	}
	return ItemSeg(d, kind), r.delim(']', "list element")
}

// checkItem validates a list element's entries as a decoder received them:
// each places the element (its position is a dot), and only the head (the
// entry whose dot is the element's id) of a scalar element holds a value.
func checkItem(p Path, es []Entry) error {
	seg := p.Segs[len(p.Segs)-1]
	for _, e := range es {
		if e.Origin.Seq == 0 {
			return fmt.Errorf("%w: leaf %s: entry %s has no position", ErrInvalid, p, e.Dot)
		}
		if e.V.kind != KindNull && (e.Dot != seg.Item || seg.Type != TypeLWW) {
			return fmt.Errorf("%w: leaf %s: only a scalar element's insert holds a value", ErrInvalid, p)
		}
	}
	return nil
}
