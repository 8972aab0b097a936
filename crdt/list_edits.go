package crdt

import (
	"encoding/json"
	"sort"
)

// ListEdit is one step of turning a list into its next version, as an app
// applies it to an array: insert Value at Index, delete Count elements at
// Index, move the element at From so that it ends at To (splice it out,
// then in), or set the element at Index to Value (a map element whose
// fields changed, or a list inside it). Indexes are in the list as the
// steps before left it.
type ListEdit struct {
	Op    string // "insert", "delete", "move" or "set"
	Index int
	Count int
	From  int
	To    int
	Value any
}

// MarshalJSON writes {"op":"insert","index":i,"value":V},
// {"op":"delete","index":i,"count":n}, {"op":"move","from":i,"to":j} or
// {"op":"set","index":i,"value":V}.
func (e ListEdit) MarshalJSON() ([]byte, error) {
	switch e.Op {
	case "delete":
		return json.Marshal(struct {
			Op    string `json:"op"`
			Index int    `json:"index"`
			Count int    `json:"count"`
		}{e.Op, e.Index, e.Count})
	case "move":
		return json.Marshal(struct {
			Op   string `json:"op"`
			From int    `json:"from"`
			To   int    `json:"to"`
		}{e.Op, e.From, e.To})
	}
	return json.Marshal(struct {
		Op    string `json:"op"`
		Index int    `json:"index"`
		Value any    `json:"value"`
	}{e.Op, e.Index, e.Value})
}

// ListChange is what happened to one list of an object: the object itself
// (Path empty) or the list field Path names. Lists inside a list's map
// elements are not reported on their own: their element gets a "set".
type ListChange struct {
	Path  []string   `json:"path"`
	Edits []ListEdit `json:"edits"`
}

// ListSnapshot is the elements of every list of an object (their ids and
// values as JSON, in order), taken before a change so that Changes can say
// what the change did.
type ListSnapshot map[string]listShot

type listShot struct {
	path []string
	ids  []Dot
	vals []string
}

// SnapshotLists records the lists of o.
func SnapshotLists(o *Object) ListSnapshot {
	s := ListSnapshot{}
	for prefix, l := range listsOf(o) {
		s[prefix] = l
	}
	return s
}

// Changes returns the edits that turn each list of the snapshot into the
// same list of o: deletes first, then inserts and moves left to right
// (elements in a longest run that kept its order do not move), then sets
// of elements whose value changed. Lists that did not change are left out.
func (s ListSnapshot) Changes(o *Object) []ListChange {
	var out []ListChange
	now := listsOf(o)
	prefixes := make([]string, 0, len(now))
	for p := range now {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, prefix := range prefixes {
		if edits := listDiff(s[prefix], now[prefix]); len(edits) > 0 {
			out = append(out, ListChange{Path: now[prefix].path, Edits: edits})
		}
	}
	return out
}

// listDiff is the edits from a to b.
func listDiff(a, b listShot) []ListEdit {
	var edits []ListEdit
	inB := make(map[Dot]int, len(b.ids))
	for i, id := range b.ids {
		inB[id] = i
	}
	// Deletes, walking a.
	var w []Dot // a less what b lacks
	old := map[Dot]string{}
	for i, id := range a.ids {
		if _, ok := inB[id]; ok {
			w = append(w, id)
			old[id] = a.vals[i]
			continue
		}
		at := len(w)
		if n := len(edits); n > 0 && edits[n-1].Index == at {
			edits[n-1].Count++
		} else {
			edits = append(edits, ListEdit{Op: "delete", Index: at, Count: 1})
		}
	}
	// The elements that stay put: a longest run of b's kept elements in
	// increasing order of their place in w.
	wIdx := make(map[Dot]int, len(w))
	for i, id := range w {
		wIdx[id] = i
	}
	var seq []Dot
	for _, id := range b.ids {
		if _, ok := wIdx[id]; ok {
			seq = append(seq, id)
		}
	}
	stay := longestRun(seq, wIdx)
	// Inserts and moves: each element of b not staying goes right after
	// its predecessor in b, which is in place by then.
	for i, id := range b.ids {
		after := 0
		if i > 0 {
			after = slicesIndex(w, b.ids[i-1]) + 1
		}
		if _, kept := wIdx[id]; !kept {
			w = insertDot(w, after, id)
			edits = append(edits, ListEdit{Op: "insert", Index: after, Value: json.RawMessage(b.vals[i])})
			continue
		}
		if stay[id] {
			continue
		}
		from := slicesIndex(w, id)
		w = append(w[:from:from], w[from+1:]...)
		to := 0
		if i > 0 {
			to = slicesIndex(w, b.ids[i-1]) + 1
		}
		w = insertDot(w, to, id)
		if from != to {
			edits = append(edits, ListEdit{Op: "move", From: from, To: to})
		}
	}
	for i, id := range b.ids {
		if v, ok := old[id]; ok && v != b.vals[i] {
			edits = append(edits, ListEdit{Op: "set", Index: i, Value: json.RawMessage(b.vals[i])})
		}
	}
	return edits
}

// longestRun returns the members of a longest subsequence of seq whose
// places in idx increase (patience sorting, O(n log n)).
func longestRun(seq []Dot, idx map[Dot]int) map[Dot]bool {
	var tails []int // index in seq of the last element of the best run of each length
	prev := make([]int, len(seq))
	for i, id := range seq {
		x := idx[id]
		k := sort.Search(len(tails), func(j int) bool { return idx[seq[tails[j]]] >= x })
		prev[i] = -1
		if k > 0 {
			prev[i] = tails[k-1]
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	out := map[Dot]bool{}
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			out[seq[i]] = true
		}
	}
	return out
}

func slicesIndex(w []Dot, d Dot) int {
	for i, x := range w {
		if x == d {
			return i
		}
	}
	return -1
}

func insertDot(w []Dot, i int, d Dot) []Dot {
	w = append(w, Dot{})
	copy(w[i+1:], w[i:])
	w[i] = d
	return w
}

// listsOf returns the outermost lists of o (at its root or map fields, not
// inside a list's elements) by the key prefix of their leaves.
func listsOf(o *Object) map[string]listShot {
	groups := map[string][]pathLeaf{}
	depths := map[string]int{}
	paths := map[string][]string{}
	o.eachLeaf(func(key string, es []Entry) {
		p, err := ParseKey(key)
		if err != nil {
			return
		}
		if !p.inList() {
			return
		}
		d := 0
		for d < len(p.Segs) && !p.Segs[d].IsItem() && !(p.Segs[d].IsBlock() && p.Segs[d].Type == TypeList) {
			d++
		}
		prefix := Path{Root: p.Root, Segs: p.Segs[:d]}.Key()
		if _, ok := depths[prefix]; !ok {
			depths[prefix] = d
			names := []string{}
			for _, s := range p.Segs[:d] {
				names = append(names, s.Field)
			}
			paths[prefix] = names
		}
		groups[prefix] = append(groups[prefix], pathLeaf{path: p, entries: es})
	})
	out := make(map[string]listShot, len(groups))
	for prefix, leaves := range groups {
		items, vals := listElems(leaves, depths[prefix])
		l := listShot{path: paths[prefix]}
		for i, it := range items {
			b, _ := json.Marshal(vals[i])
			l.ids = append(l.ids, it.id)
			l.vals = append(l.vals, string(b))
		}
		out[prefix] = l
	}
	return out
}

// inList reports whether p goes through a list.
func (p Path) inList() bool {
	if p.Root == TypeList {
		return true
	}
	for _, s := range p.Segs {
		if s.IsItem() || s.IsBlock() && s.Type == TypeList {
			return true
		}
	}
	return false
}
