package crdt

import (
	"encoding/json"
	"slices"
	"strconv"
)

// AppendValueJSON appends the JSON encoding of the object's plain value
// to dst, without building the value's maps and slices first: what
// json.Marshal(o.Value()) produces, map keys sorted, except that strings
// are escaped as JSON.stringify escapes them (canonical JSON: '<', '>',
// '&', U+2028 and U+2029 as they are). A node answers writes with it.
func (o *Object) AppendValueJSON(dst []byte) []byte {
	t := o.Type()
	if t == 0 {
		return append(dst, "null"...)
	}
	if c := o.vjson; c != nil {
		if t == TypeORMap {
			return o.appendMapJSON(dst, c)
		}
		c.built = false
	}
	return appendRenderJSON(dst, t, o.pathLeaves(t), 0)
}

// appendRenderJSON is render written as JSON: the same choices, in the
// same order, with lists and texts taken from render itself.
func appendRenderJSON(dst []byte, t Type, leaves []pathLeaf, depth int) []byte {
	switch t {
	case TypeGCounter, TypePNCounter:
		return strconv.AppendInt(dst, render(t, leaves, depth).(int64), 10)
	case TypeLWW:
		for _, l := range leaves {
			if w, ok := lwwWinner(l.entries); ok {
				return appendValueJSON(dst, w.V)
			}
		}
		return append(dst, "null"...)
	case TypeMVRegister:
		vs := mvValues(leaves)
		dst = append(dst, '[')
		for i, v := range vs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValueJSON(dst, v)
		}
		return append(dst, ']')
	case TypeEWFlag:
		for _, l := range leaves {
			if len(l.entries) > 0 {
				return append(dst, "true"...)
			}
		}
		return append(dst, "false"...)
	case TypeText:
		return appendQuoted(dst, renderText(leaves))
	case TypeList:
		b, err := json.Marshal(renderList(leaves, depth))
		if err != nil { // unreachable: scalars and maps of scalars
			return append(dst, "null"...)
		}
		return append(dst, b...)
	case TypeORSet:
		dst = append(dst, '[')
		first := true
		for _, l := range leaves {
			if len(l.entries) > 0 && len(l.path.Segs) > depth {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = appendValueJSON(dst, l.path.Segs[depth].Elem)
			}
		}
		return append(dst, ']')
	case TypeORMap:
		return appendFieldsJSON(dst, leaves, depth)
	}
	return append(dst, "null"...)
}

// appendFieldsJSON writes a map's fields sorted by name, as encoding/json
// sorts a map's keys; of one name created with different types the lower
// type is the one read, and a text with no characters is absent (render).
func appendFieldsJSON(dst []byte, leaves []pathLeaf, depth int) []byte {
	type field struct {
		name string
		t    Type
		i, j int
		text string // a text field's value, rendered once
	}
	fields := make([]field, 0, len(leaves))
	for i := 0; i < len(leaves); {
		seg := leaves[i].path.Segs[depth]
		j := i + 1
		for j < len(leaves) && sameField(leaves[j].path.Segs[depth], seg) {
			j++
		}
		f := field{name: seg.Field, t: seg.Type, i: i, j: j}
		if seg.Type == TypeText {
			f.text = renderText(leaves[i:j])
		}
		if seg.Type != TypeText || f.text != "" {
			fields = append(fields, f)
		}
		i = j
	}
	slices.SortStableFunc(fields, func(a, b field) int {
		return compareFieldID(fieldID{a.name, a.t}, fieldID{b.name, b.t})
	})
	dst = append(dst, '{')
	for k, f := range fields {
		if k > 0 && fields[k-1].name == f.name {
			continue // the lower type of this name came first
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendQuoted(dst, f.name)
		dst = append(dst, ':')
		if f.t == TypeText {
			dst = appendQuoted(dst, f.text)
			continue
		}
		dst = appendRenderJSON(dst, f.t, leaves[f.i:f.j], depth+1)
	}
	return append(dst, '}')
}
