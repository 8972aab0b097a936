package crdt

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Canonical JSON encoding of an object. It is what the JavaScript client
// speaks, and it must produce the same text byte for byte, so the form is
// fixed down to the last character and every part of it is easy to write
// with JSON.stringify:
//
//	{"types":[TYPE,...],"leaves":[[PATH,[ENTRY,...]],...],"ctx":{"vv":[[REPLICA,SEQ],...],"cloud":[[REPLICA,SEQ],...]}}
//
// TYPE is a type name; types are every root type the object has been
// written as (Meta.Types), lowest number first. PATH is [ROOT, SEG...]:
// ROOT is a type name, a map-field segment is [FIELD, TYPE] and a
// set-element segment is the element itself, e.g.
// ["map",["cards","map"],["c1","map"],["tags","set"],"urgent"]; a text
// block segment is [REPLICA,SEQ], SEQ the block's first sequence, e.g.
// ["map",["note","text"],["5c000000-0000-4000-8000-000000000001",1]].
// ENTRY is [REPLICA,SEQ] for flags and set elements, [REPLICA,SEQ,P,N]
// for counters ([REPLICA,SEQ,P,N,"base"] for a writer's base, fold.go),
// [REPLICA,SEQ,VALUE] for multi-value registers,
// [REPLICA,SEQ,WALL,LOGICAL,VALUE] for LWW registers and
// [REPLICA,SEQ,LEN,ORIGIN,VALUE] for text pieces (see text_codec.go). REPLICA is the
// lowercase UUID text, whose string order is its byte order.
//
// Order: leaves by their binary key (Path.Key), entries and cloud dots by
// replica then sequence, vv by replica. The cloud is the context's whole
// cloud, leaf dots included (the binary form omits those; here the simpler
// rule wins). No whitespace. Scalars print as ECMAScript prints them.

var (
	_ json.Marshaler   = (*Object)(nil)
	_ json.Unmarshaler = (*Object)(nil)
)

// MarshalJSON returns the canonical JSON encoding. Call it directly, or
// use a json.Encoder with SetEscapeHTML(false): json.Marshal escapes <, >
// and & inside strings, which keeps the meaning but not the canonical text.
func (o *Object) MarshalJSON() ([]byte, error) { return o.marshalJSON(nil) }

// marshalJSON writes the JSON encoding, leaving out of the cloud the dots
// omit reports (nil: none).
func (o *Object) marshalJSON(omit func(Dot) bool) ([]byte, error) {
	b := append(make([]byte, 0, 64+48*len(o.dots)), `{"types":[`...)
	for i, t := range o.meta.Types.List() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, t.String())
	}
	b = append(b, `],"leaves":[`...)
	var err error
	first := true
	o.eachLeaf(func(key string, es []Entry) {
		if err != nil {
			return
		}
		p, perr := ParseKey(key)
		if perr != nil {
			// Only a Store user calling SetLeaf with a forged key gets here.
			err = fmt.Errorf("leaf %q: %w", key, perr)
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendPathJSON(append(b, '['), p)
		b = append(b, ",["...)
		kind := p.leafKind()
		for i, e := range es {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEntryJSON(b, kind, e)
		}
		b = append(b, "]]"...)
	})
	if err != nil {
		return nil, err
	}
	b = append(b, `],"ctx":{"vv":[`...)
	for i, r := range o.meta.Ctx.vv.Replicas() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDotJSON(append(b, '['), Dot{Replica: r, Seq: o.meta.Ctx.vv[r]})
		b = append(b, ']')
	}
	b = append(b, `],"cloud":[`...)
	first = true
	for _, d := range o.meta.Ctx.Cloud() {
		if omit != nil && omit(d) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(appendDotJSON(append(b, '['), d), ']')
	}
	return append(b, "]}}"...), nil
}

func appendPathJSON(b []byte, p Path) []byte {
	b = appendQuoted(append(b, '['), p.Root.String())
	for _, s := range p.Segs {
		b = append(b, ',')
		if s.IsItem() {
			b = appendDotJSON(append(b, '['), s.Item)
			b = append(appendQuoted(append(b, ','), s.Type.String()), ']')
			continue
		}
		if s.IsBlock() {
			b = append(appendDotJSON(append(b, '['), s.Block), ']')
			continue
		}
		if s.IsElem() {
			b = appendValueJSON(b, s.Elem)
			continue
		}
		b = appendQuoted(append(b, '['), s.Field)
		b = appendQuoted(append(b, ','), s.Type.String())
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendDotJSON writes "replica",seq without brackets, since an entry
// continues after them.
func appendDotJSON(b []byte, d Dot) []byte {
	b = append(b, '"')
	b = append(b, d.Replica.String()...)
	b = append(b, '"', ',')
	return strconv.AppendUint(b, d.Seq, 10)
}

func appendEntryJSON(b []byte, kind leafKind, e Entry) []byte {
	b = appendDotJSON(append(b, '['), e.Dot)
	switch kind {
	case leafCounter:
		b = strconv.AppendUint(append(b, ','), e.P, 10)
		b = strconv.AppendUint(append(b, ','), e.N, 10)
		if e.Base {
			b = append(b, `,"base"`...)
		}
	case leafMV:
		b = appendValueJSON(append(b, ','), e.V)
	case leafLWW:
		b = strconv.AppendInt(append(b, ','), e.TS.Wall, 10)
		b = strconv.AppendUint(append(b, ','), uint64(e.TS.Logical), 10)
		b = appendValueJSON(append(b, ','), e.V)
	case leafListItem:
		b = strconv.AppendInt(append(b, ','), e.TS.Wall, 10)
		b = strconv.AppendUint(append(b, ','), uint64(e.TS.Logical), 10)
		b = append(appendDotJSON(append(b, ",["...), e.Origin), ']')
		b = appendValueJSON(append(b, ','), e.V)
	case leafText:
		b = strconv.AppendUint(append(b, ','), e.Len, 10)
		if e.Origin == (Dot{}) {
			b = append(b, ",null"...)
		} else {
			b = appendDotJSON(append(b, ",["...), e.Origin)
			if e.Left {
				b = append(b, `,"left"]`...)
			} else {
				b = append(b, `,"right"]`...)
			}
		}
		b = appendValueJSON(append(b, ','), e.V)
	}
	return append(b, ']')
}
