package crdt

import "slices"

// A map's rendered fields, kept between AppendValueJSON calls (KeepValueJSON).
// A node answers every REST write with the object's whole value; a write
// changes one field of a map, so the other fields' JSON is kept and only the
// fields whose leaves changed since are rendered again.

// fieldID names one field of a map: a name written as two types is two.
type fieldID struct {
	name string
	t    Type
}

// valueJSONCache is the JSON of each field of a map object (one whose type
// is TypeORMap), and which fields changed since it was written.
type valueJSONCache struct {
	built  bool
	fields []fieldJSON // sorted by name and then type; a text with no characters is absent
	size   int         // of the whole object's JSON
	dirty  map[fieldID]struct{}
}

// fieldJSON is one field's name and value as JSON: `"name":value`.
type fieldJSON struct {
	id fieldID
	js []byte
}

// KeepValueJSON makes o keep the JSON of a map's fields between
// AppendValueJSON calls, so that a call renders again only the fields whose
// leaves changed since the last one: for objects rendered after every
// small change. It costs the JSON's size in memory. Clones do not keep it.
func (o *Object) KeepValueJSON() {
	if o.vjson == nil {
		o.vjson = &valueJSONCache{}
	}
}

// touched notes that the leaf at key changed.
func (c *valueJSONCache) touched(key string) {
	if !c.built {
		return
	}
	if len(key) == 0 || key[0] != byte(TypeORMap) {
		c.built = false // not a map's leaf: the object's type may change
		return
	}
	p, err := ParseKey(key)
	if err != nil || len(p.Segs) == 0 {
		c.built = false
		return
	}
	c.dirty[fieldID{p.Segs[0].Field, p.Segs[0].Type}] = struct{}{}
}

// appendMapJSON is appendFieldsJSON of o's top-level fields (o is a map),
// from the kept JSON of the fields that did not change.
func (o *Object) appendMapJSON(dst []byte, c *valueJSONCache) []byte {
	if !c.built {
		c.fields, c.size, c.dirty = nil, 2, map[fieldID]struct{}{}
		leaves := o.pathLeaves(TypeORMap)
		for i := 0; i < len(leaves); {
			seg := leaves[i].path.Segs[0]
			j := i + 1
			for j < len(leaves) && sameField(leaves[j].path.Segs[0], seg) {
				j++
			}
			c.render(fieldID{seg.Field, seg.Type}, leaves[i:j])
			i = j
		}
		c.built = true
	} else if len(c.dirty) > 0 {
		for id := range c.dirty {
			prefix := fieldPrefix(string([]byte{byte(TypeORMap)}), id.name, id.t)
			var leaves []pathLeaf
			o.leaves.AscendRange(leafItem{key: prefix}, leafItem{key: prefixEnd(prefix)}, func(it leafItem) bool {
				if p, err := ParseKey(it.key); err == nil {
					leaves = append(leaves, toPathLeaf(it, p))
				}
				return true
			})
			c.render(id, leaves)
		}
		clear(c.dirty)
	}
	dst = slices.Grow(dst, c.size)
	dst = append(dst, '{')
	for k, f := range c.fields {
		if k > 0 && c.fields[k-1].id.name == f.id.name {
			continue // the lower type of this name came first
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, f.js...)
	}
	return append(dst, '}')
}

// render keeps the JSON of field id, whose leaves (in key order) are
// leaves, or forgets it when it has none to show.
func (c *valueJSONCache) render(id fieldID, leaves []pathLeaf) {
	var js []byte
	switch {
	case len(leaves) == 0:
	case id.t == TypeText:
		if s := renderText(leaves); s != "" {
			js = appendQuoted(append(appendQuoted(nil, id.name), ':'), s)
		}
	default:
		js = appendRenderJSON(append(appendQuoted(nil, id.name), ':'), id.t, leaves, 1)
	}
	i, found := slices.BinarySearchFunc(c.fields, id, func(f fieldJSON, id fieldID) int { return compareFieldID(f.id, id) })
	if found {
		c.size -= len(c.fields[i].js) + 1
	}
	switch {
	case js == nil && found:
		c.fields = slices.Delete(c.fields, i, i+1)
	case js != nil && found:
		c.fields[i].js = js
	case js != nil:
		c.fields = slices.Insert(c.fields, i, fieldJSON{id, js})
	}
	if js != nil {
		c.size += len(js) + 1
	}
}

// compareFieldID orders fields as encoding/json orders a map's keys, and
// the types of one name lowest first.
func compareFieldID(a, b fieldID) int {
	switch {
	case a.name < b.name:
		return -1
	case a.name > b.name:
		return 1
	}
	return int(a.t) - int(b.t)
}
