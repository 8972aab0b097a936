package crdt

import (
	"fmt"
)

// Apply performs op as replica r at time now on the object held by st with
// context ctx, and returns the delta. It is the delta-mutator of every
// type: the delta is computed from the current state, then joined in, so
// the new state is by construction the old one joined with the delta.
//
// Type checks come first: an operation of one type on an object or field of
// another fails with ErrWrongType and changes nothing.
func Apply(st Store, m *Meta, r ReplicaID, now Timestamp, op Op) (*Object, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	if now.Wall < 0 || now.Wall > MaxSafeInt {
		return nil, fmt.Errorf("%w: time %s out of range", ErrInvalid, now)
	}
	key, err := resolve(st, m.Types, op)
	if err != nil {
		return nil, err
	}
	delta := NewObject()
	delta.meta.Types = TypeSetOf(rootOf(op))
	if op.Type == TypeText || op.Type == TypeList {
		var err error
		if op.Type == TypeText {
			err = textDelta(st, key, delta, r, m.Ctx.Max(r), op)
		} else {
			err = listDelta(st, key, delta, r, m.Ctx.Max(r), now, op)
		}
		if err != nil {
			return nil, err
		}
		if err := JoinInto(st, m, delta); err != nil {
			return nil, err
		}
		return delta, nil
	}
	dot := Dot{Replica: r, Seq: m.Ctx.Max(r) + 1}
	if dot.Seq > MaxSeq {
		return nil, ErrSeqExhausted
	}
	// covers puts the dots of the entries a mutation supersedes into the
	// delta's context: that is how the delta removes them everywhere.
	covers := func(es []Entry) {
		for _, e := range es {
			delta.meta.Ctx.Add(e.Dot)
		}
	}
	put := func(e Entry) {
		e.Dot = dot
		delta.meta.Ctx.Add(dot)
		_ = delta.SetLeaf(key, []Entry{e})
	}
	switch op.Kind {
	case OpDelete:
		dots, err := dotsUnderField(st, key, op.Path[len(op.Path)-1])
		if err != nil {
			return nil, fmt.Errorf("reading field %q: %w", op.Path[len(op.Path)-1], err)
		}
		for _, d := range dots {
			delta.meta.Ctx.Add(d)
		}
	case OpInc, OpDec:
		// A counter keeps one entry per replica holding its running
		// totals; the new entry replaces this replica's old ones.
		if err := counterDelta(st, key, r, dot, op, covers, put); err != nil {
			return nil, err
		}
	default:
		es, err := st.Leaf(key)
		if err != nil {
			return nil, fmt.Errorf("reading leaf: %w", err)
		}
		switch op.Kind {
		case OpAdd, OpEnable:
			covers(es)
			put(Entry{})
		case OpRemove, OpDisable:
			covers(es)
		case OpSet:
			e := Entry{V: op.Value}
			if op.Type == TypeLWW {
				// A write that has seen others must win over them whatever
				// the caller's clock says: that is the hybrid clock's promise.
				e.TS = now
				for _, old := range es {
					if old.TS.Compare(e.TS) >= 0 {
						e.TS = old.TS.successor()
					}
				}
			}
			covers(es)
			put(e)
		}
	}
	if err := JoinInto(st, m, delta); err != nil {
		return nil, err
	}
	return delta, nil
}

// counterDelta makes the delta of an increment or decrement by r: r's new
// running totals under dot, covering r's older entries. r's latest entry
// may be its base (fold.go): the new totals go on from it. It reads r's
// entries and the leaf's Tally, never the other writers'.
func counterDelta(st Store, key string, r ReplicaID, dot Dot, op Op, covers func([]Entry), put func(Entry)) error {
	by := op.By
	if op.Kind == OpDec {
		by = -by
	}
	if by == 0 {
		// Nothing to count, but the delta still names the type,
		// so it must reach the state too: before ⊔ delta = after.
		return nil
	}
	mine, err := st.ReplicaLeaf(key, r)
	if err != nil {
		return fmt.Errorf("reading counter writer: %w", err)
	}
	var last Entry
	if len(mine) > 0 {
		last = mine[len(mine)-1]
	}
	e := Entry{P: last.P, N: last.N}
	if by > 0 {
		e.P += uint64(by)
	} else {
		e.N += uint64(-by)
	}
	if e.P > MaxSafeInt || e.N > MaxSafeInt {
		return fmt.Errorf("%w: counter total would exceed 2^53-1", ErrOutOfRange)
	}
	// The object's sum over every replica must stay exact too.
	e.Dot = dot
	t, err := st.CounterTally(key)
	if err != nil {
		return fmt.Errorf("reading counter tally: %w", err)
	}
	// A base of r's stays beside its new entry (fold.go).
	_, bases := splitBases(mine)
	if err := counterRaise(t, mine, append(bases, e)); err != nil {
		return err
	}
	covers(mine)
	put(e)
	return nil
}

// resolve checks op's types against what the object holds and returns the
// key of the leaf op acts on (for OpDelete, the prefix of the map holding
// the field; for a text or a list, the prefix of its leaves). A list index
// in the path (op.Item) is looked up in the list it names and goes on in
// that element's map.
func resolve(st Store, types TypeSet, op Op) (string, error) {
	root := rootOf(op)
	if types != 0 && !types.Has(root) {
		return "", fmt.Errorf("%w: the object is a %s, not a %s", ErrWrongType, types.First(), root)
	}
	key := string([]byte{byte(root)})
	for i, name := range op.Path {
		if op.Item != nil && op.Item.At == i {
			k, err := itemMapKey(st, key, op.Item.Index)
			if err != nil {
				return "", err
			}
			key = k
		}
		last := i == len(op.Path)-1
		if last && op.Type == TypeORMap {
			break
		}
		want := TypeORMap
		switch {
		case last:
			want = op.Type
		case op.Item != nil && op.Item.At == i+1:
			want = TypeList
		}
		// As at the root, a field written concurrently as two types stays
		// writable as either; only a type it does not hold is refused. A
		// field that holds the wanted type is writable whatever else it
		// holds, so that type is looked for first, and the others only
		// when it is absent.
		wanted := fieldPrefix(key, name, want)
		found, err := hasLeaves(st, wanted)
		if err != nil {
			return "", fmt.Errorf("reading field %q: %w", name, err)
		}
		for t := TypeGCounter; t <= maxType && !found; t++ {
			if t == want {
				continue
			}
			present, err := hasLeaves(st, fieldPrefix(key, name, t))
			if err != nil {
				return "", fmt.Errorf("reading field %q: %w", name, err)
			}
			if present {
				return "", fmt.Errorf("%w: field %q is a %s, not a %s", ErrWrongType, name, t, want)
			}
		}
		key = wanted
	}
	if op.Type == TypeORSet {
		key = string(appendValue([]byte(key), op.Value))
	}
	return key, nil
}

// rootOf is the type of the object an operation acts on.
func rootOf(op Op) Type {
	switch {
	case op.Item != nil && op.Item.At == 0:
		return TypeList
	case len(op.Path) > 0:
		return TypeORMap
	}
	return op.Type
}

// dotsUnderField returns every dot below the field a delete names, of any
// type.
func dotsUnderField(st Store, parent, name string) ([]Dot, error) {
	var all []Dot
	for t := TypeGCounter; t <= maxType; t++ {
		ds, err := dotsUnder(st, fieldPrefix(parent, name, t))
		if err != nil {
			return nil, err
		}
		all = append(all, ds...)
	}
	return all, nil
}
