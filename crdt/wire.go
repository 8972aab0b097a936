package crdt

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Binary building blocks shared by path keys and the binary encoding.
//
// Values: 0x00 null, 0x01 false, 0x02 true, 0x03 integer (zigzag uvarint),
// 0x04 float (8 bytes, IEEE 754 big-endian), 0x05 string (uvarint length,
// UTF-8), 0x80|i for the integers 0..127 (one byte for the common small
// number). Every value has exactly one encoding, which is what makes the
// encodings canonical.
const (
	valNull     = 0x00
	valFalse    = 0x01
	valTrue     = 0x02
	valInt      = 0x03
	valFloat    = 0x04
	valString   = 0x05
	valSmallInt = 0x80
)

func appendUvarint(b []byte, x uint64) []byte { return binary.AppendUvarint(b, x) }

func zigzag(i int64) uint64   { return uint64(i<<1) ^ uint64(i>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v Value) []byte {
	switch v.kind {
	case KindBool:
		if v.i == 1 {
			return append(b, valTrue)
		}
		return append(b, valFalse)
	case KindInt:
		if v.i >= 0 && v.i < 128 {
			return append(b, valSmallInt|byte(v.i))
		}
		return appendUvarint(append(b, valInt), zigzag(v.i))
	case KindFloat:
		return binary.BigEndian.AppendUint64(append(b, valFloat), math.Float64bits(v.f))
	case KindString:
		return appendString(append(b, valString), v.s)
	}
	return append(b, valNull)
}

// reader decodes untrusted bytes. Every method checks bounds and returns an
// error wrapping ErrInvalid rather than panicking; lengths are checked
// against what remains before anything is allocated.
type reader struct {
	b   []byte
	off int
	// Set by a Merger, whose decoded leaves are joined and dropped: the
	// keys it has parsed, and an arena for entries (reader.newEntries).
	keys  *keyCache
	arena *[]Entry
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrInvalid, r.off, fmt.Sprintf(format, args...))
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.errf("truncated")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// uvarint reads a minimally encoded uvarint; a longer encoding of the same
// number is refused, so each number has one encoding.
func (r *reader) uvarint() (uint64, error) {
	x, n := binary.Uvarint(r.b[r.off:])
	if n == 0 {
		return 0, r.errf("truncated varint")
	}
	if n < 0 {
		return 0, r.errf("varint overflows 64 bits")
	}
	if n > 1 && r.b[r.off+n-1] == 0 {
		return 0, r.errf("varint not minimally encoded")
	}
	r.off += n
	return x, nil
}

// count reads a length or element count and checks that at least
// count*minSize bytes remain, which bounds every allocation by the input.
func (r *reader) count(minSize int) (int, error) {
	x, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if minSize < 1 {
		minSize = 1
	}
	if x > uint64(r.remaining()/minSize) {
		return 0, r.errf("count %d exceeds the %d bytes left", x, r.remaining())
	}
	return int(x), nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, r.errf("length %d exceeds the %d bytes left", n, r.remaining())
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

func (r *reader) string() (string, error) {
	n, err := r.count(1)
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", r.errf("string is not valid UTF-8")
	}
	return string(b), nil
}

func (r *reader) value() (Value, error) {
	tag, err := r.byte()
	if err != nil {
		return Value{}, err
	}
	switch {
	case tag == valNull:
		return Null(), nil
	case tag == valFalse:
		return Bool(false), nil
	case tag == valTrue:
		return Bool(true), nil
	case tag == valInt:
		u, err := r.uvarint()
		if err != nil {
			return Value{}, err
		}
		i := unzigzag(u)
		if i >= 0 && i < 128 {
			return Value{}, r.errf("integer %d must use the one-byte form", i)
		}
		v, err := Int(i)
		if err != nil {
			return Value{}, r.errf("%v", err)
		}
		return v, nil
	case tag == valFloat:
		b, err := r.bytes(8)
		if err != nil {
			return Value{}, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		v, err := Float(f)
		if err != nil {
			return Value{}, r.errf("%v", err)
		}
		if v.kind != KindFloat || math.Float64bits(f) != math.Float64bits(v.f) {
			return Value{}, r.errf("float %v must be encoded as an integer", f)
		}
		return v, nil
	case tag == valString:
		s, err := r.string()
		if err != nil {
			return Value{}, err
		}
		return Value{kind: KindString, s: s}, nil
	case tag&0x80 == valSmallInt:
		return Value{kind: KindInt, i: int64(tag & 0x7F)}, nil
	}
	return Value{}, r.errf("unknown value tag 0x%02x", tag)
}

// appendTypes writes a type set: one byte holding types 1 to 7 (bit t for
// type t), whose bit 0, never a type, says a second byte follows with
// types 8 to 15. Sets of the first seven types keep the one-byte form they
// always had.
func appendTypes(b []byte, ts TypeSet) []byte {
	lo, hi := byte(ts), byte(ts>>8)
	if hi == 0 {
		return append(b, lo)
	}
	return append(b, lo|1, hi)
}

// types reads what appendTypes wrote, refusing unknown types and the
// needless second byte.
func (r *reader) types() (TypeSet, error) {
	lo, err := r.byte()
	if err != nil {
		return 0, err
	}
	ts := TypeSet(lo &^ 1)
	if lo&1 == 1 {
		hi, err := r.byte()
		if err != nil {
			return 0, err
		}
		if hi == 0 {
			return 0, r.errf("type set has an empty second byte")
		}
		ts |= TypeSet(hi) << 8
	}
	if !ts.Valid() {
		return 0, r.errf("unknown types in set 0x%04x", uint16(ts))
	}
	return ts, nil
}
