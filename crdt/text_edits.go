package crdt

import "strings"

// TextEdit is one step of turning a text into its next version, as an
// editor applies it: at Index (code points, in the text as the steps before
// left it) delete Delete characters, then insert Insert. Index16 and
// Delete16 are the same in UTF-16 code units, for editors that count those
// (browsers).
type TextEdit struct {
	Index    int    `json:"index"`
	Delete   int    `json:"delete,omitempty"`
	Insert   string `json:"insert,omitempty"`
	Index16  int    `json:"index16"`
	Delete16 int    `json:"delete16,omitempty"`
}

// TextChange is what happened to one text of an object: the object itself
// (Path empty) or the text field Path names.
type TextChange struct {
	Path  []string   `json:"path"`
	Edits []TextEdit `json:"edits"`
}

// TextSnapshot is the visible characters of every text of an object, taken
// before a change so that Changes can say what the change did.
type TextSnapshot map[string]map[Dot]rune

// SnapshotTexts records the texts of o.
func SnapshotTexts(o *Object) TextSnapshot {
	s := TextSnapshot{}
	for prefix, cs := range textsOf(o) {
		vis := map[Dot]rune{}
		for _, c := range textOrder(cs) { // not orphans: they are not in the text
			if c.live {
				vis[c.dot] = c.r
			}
		}
		s[prefix] = vis
	}
	return s
}

// Changes returns the edits that turn each text of the snapshot into the
// same text of o, in position form: applying a change's edits in order to
// the text as it was gives the text now. Texts that did not change are
// left out. Fugue never changes the relative order of two characters, so
// one walk of the text now, knowing which characters were visible before,
// finds every insert and delete.
func (s TextSnapshot) Changes(o *Object) []TextChange {
	var out []TextChange
	for prefix, cs := range textsOf(o) {
		before := s[prefix]
		var b editBuilder
		for _, c := range textOrder(cs) {
			r, was := before[c.dot]
			switch {
			case was && c.live:
				b.keep(c.r)
			case was:
				b.delete(r)
			case c.live:
				b.insert(c.r)
			}
		}
		if len(b.edits) > 0 {
			out = append(out, TextChange{Path: textPath(prefix), Edits: b.edits})
		}
	}
	return out
}

// editBuilder collects edits during a walk of the text now.
type editBuilder struct {
	edits      []TextEdit
	pos, pos16 int // the walk's place in the text as the edits so far leave it
	ins        int // characters the last edit inserts
}

func (b *editBuilder) keep(r rune) {
	b.pos++
	b.pos16 += utf16Len(r)
}

func (b *editBuilder) delete(r rune) {
	if n := len(b.edits); n == 0 || b.edits[n-1].Index != b.pos || b.ins > 0 {
		b.edits = append(b.edits, TextEdit{Index: b.pos, Index16: b.pos16})
		b.ins = 0
	}
	e := &b.edits[len(b.edits)-1]
	e.Delete++
	e.Delete16 += utf16Len(r)
}

func (b *editBuilder) insert(r rune) {
	if n := len(b.edits); n == 0 || b.edits[n-1].Index+b.ins != b.pos {
		b.edits = append(b.edits, TextEdit{Index: b.pos, Index16: b.pos16})
		b.ins = 0
	}
	e := &b.edits[len(b.edits)-1]
	e.Insert += string(r)
	b.ins++
	b.keep(r)
}

func utf16Len(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// textsOf returns the characters of every text of o, in dot order, by the
// key prefix of its blocks.
func textsOf(o *Object) map[string][]textChar {
	blocks := map[string][][]Entry{}
	o.eachLeaf(func(key string, es []Entry) {
		if !isTextLeaf(es) {
			return
		}
		p, err := ParseKey(key)
		if err != nil || p.inList() {
			// A list's positions, and texts inside a list's elements
			// (whose changes the list reports as a "set" of the
			// element), are left out.
			return
		}
		prefix := Path{Root: p.Root, Segs: p.Segs[:len(p.Segs)-1]}.Key()
		blocks[prefix] = append(blocks[prefix], es)
	})
	out := make(map[string][]textChar, len(blocks))
	for prefix, bs := range blocks {
		out[prefix] = charsOf(bs)
	}
	return out
}

// textPath is the field names of the text whose blocks start with prefix.
func textPath(prefix string) []string {
	var names []string
	if p, err := ParseKey(prefix + strings.Repeat("\x00", 17)); err == nil {
		for _, s := range p.Segs[:len(p.Segs)-1] {
			names = append(names, s.Field)
		}
	}
	if names == nil {
		names = []string{}
	}
	return names
}
