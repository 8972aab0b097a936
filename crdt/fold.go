package crdt

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// Folding a counter writer (issue 13; docs/crdt-cost.md, "What is
// reclaimed, and what is not").
//
// Besides its running totals (its raw entries, as ever), a counter writer
// may have a base: an entry with Base set, holding the writer's totals at
// the base's sequence. The writer adds to the counter its latest raw
// entry's totals less its base's, and nothing if it has no raw entry after
// the base (counterShare). Per writer the state is the product of the dot
// store of its raw entries and a register of its base, the greater
// sequence winning; raw entries at or below the base's sequence add
// nothing and are dropped (counterJoin), so a writer holds a base and at
// most the raw entries after it.
//
// A fold of writer w by node X sets w's base to w's latest raw entry and
// adds what w added (its raw totals less its old base) to X's fold entry,
// an ordinary counter entry of the pseudo-replica FoldReplica(X). The
// counter's value is unchanged, and w's entries are now one base that
// adds nothing (IsZeroed): a store may keep it out of its hot state.
//
// Counting once. A writer that saw the fold continues from its base (its
// latest entry) and adds only its new increments. A writer that did not
// sends raw totals that include the folded amount, under a later sequence:
// joined where the base is known, it adds its totals less the base, which
// is its new increments. A resent entry at or below the base adds nothing.
// This holds whatever the order: a fold and a writer's later entry join to
// the same state in either order.
//
// What a fold needs from its caller: every fold of one writer is made by
// one replica in sequence, each from a state holding the writer's earlier
// folds. Two folds of w that did not see each other each move w's share
// into a fold entry, and it counts twice.

// foldSpace is the UUID namespace of fold replicas.
var foldSpace = uuid.MustParse("6c617474-6963-6566-6f6c-640000000000")

// FoldReplica is the pseudo-replica under which node keeps the totals it
// folds: a name-based (version 5) UUID of node's id, the same on every
// replica. Only node mints its dots; a client must never be given it.
func FoldReplica(node ReplicaID) ReplicaID { return uuid.NewSHA1(foldSpace, node[:]) }

// hasBase reports whether es holds a base.
func hasBase(es []Entry) bool {
	for _, e := range es {
		if e.Base {
			return true
		}
	}
	return false
}

// IsZeroed reports whether a writer's entries of a counter leaf (as
// Store.ReplicaLeaf returns them) are a base alone: folded, adding nothing
// to the counter. A store may keep such a writer apart from the object's
// hot state, as long as it gives the base back (ReplicaLeaf) to every join,
// check and mutation that names the writer.
func IsZeroed(es []Entry) bool { return len(es) == 1 && es[0].Base }

// counterShare is what one writer's entries, sorted by dot with its base
// (if any) first, add to the counter: the latest raw entry's totals less
// the base's, or nothing. A total below the base's (input that broke the
// client rule) adds nothing rather than taking from others.
func counterShare(es []Entry) Entry {
	if len(es) == 0 || es[len(es)-1].Base {
		return Entry{}
	}
	last := es[len(es)-1]
	var b Entry
	if es[0].Base {
		b = es[0]
	}
	sub := func(x, y uint64) uint64 {
		if x < y {
			return 0
		}
		return x - y
	}
	return Entry{P: sub(last.P, b.P), N: sub(last.N, b.N)}
}

// compareBase orders two bases of one writer: the later sequence wins,
// ties (only from forged input) by the greater totals.
func compareBase(a, b Entry) int {
	if a.Dot.Seq != b.Dot.Seq {
		return cmpU(a.Dot.Seq, b.Dot.Seq)
	}
	if a.P == b.P && a.N == b.N {
		return 0
	}
	return comparePayload(a, b)
}

// counterJoin joins two versions of a counter leaf (or of one writer's
// part of it), both sorted by dot: the raw entries as a dot store
// (joinEntries), the bases by writer, the greater winning, and then each
// writer's raw entries at or below its base's sequence dropped.
func counterJoin(s, o []Entry, sc, oc *CausalContext) []Entry {
	if !hasBase(s) && !hasBase(o) {
		return joinEntries(s, o, sc, oc)
	}
	sr, sb := splitBases(s)
	or, ob := splitBases(o)
	return withBases(joinEntries(sr, or, sc, oc), append(sb, ob...))
}

// splitBases returns the raw entries of es and its bases.
func splitBases(es []Entry) (raw, bases []Entry) {
	for _, e := range es {
		if e.Base {
			bases = append(bases, e)
		} else {
			raw = append(raw, e)
		}
	}
	return raw, bases
}

// withBases puts bases (any order, several per writer allowed) into raw
// (sorted by dot): the greatest base of each writer, and of the writer's
// raw entries those after it. The result is sorted by dot.
func withBases(raw, bases []Entry) []Entry {
	best := map[ReplicaID]Entry{}
	for _, b := range bases {
		if cur, ok := best[b.Dot.Replica]; !ok || compareBase(b, cur) > 0 {
			best[b.Dot.Replica] = b
		}
	}
	out := make([]Entry, 0, len(raw)+len(best))
	for _, e := range raw {
		if b, ok := best[e.Dot.Replica]; ok && e.Dot.Seq <= b.Dot.Seq {
			continue
		}
		out = append(out, e)
	}
	for _, b := range best {
		out = append(out, b)
	}
	slices.SortFunc(out, compareEntryDot)
	return out
}

// normalizeCounter gives a counter leaf's entries, sorted by dot, the form
// a join leaves them in: one base per writer and no raw entry at or below
// it. Decoders of untrusted, non-canonical input (JSON) use it.
func normalizeCounter(es []Entry) []Entry {
	if !hasBase(es) {
		return es
	}
	raw, bases := splitBases(es)
	return withBases(raw, bases)
}

// Fold makes and joins the delta that folds writer w of the counter leaf
// key (a root counter's) into fold, the folding node's FoldReplica: w's
// base becomes its latest raw entry, and fold's entry gains w's share. It
// refuses (ErrInvalidOp) a leaf that is not a root counter, a writer with
// no entry there, one already zeroed (its latest entry is its base), and
// w equal to fold.
//
// Counters inside maps are not folded: a map delete would remove the fold
// entry (a write) but keep the base (not a write), so the field would hold
// bases alone (docs/crdt-cost.md).
//
// The caller keeps the condition of the package comment above: folds of
// one writer in sequence, by one replica. It reads the writer's entries,
// the fold replica's and the tally, as an increment does.
func Fold(st Store, m *Meta, key string, w, fold ReplicaID) (*Object, error) {
	p, err := ParseKey(key)
	if err != nil {
		return nil, err
	}
	if p.leafKind() != leafCounter || len(p.Segs) != 0 {
		return nil, fmt.Errorf("%w: fold: %s is not a root counter", ErrInvalidOp, p)
	}
	if w == fold {
		return nil, fmt.Errorf("%w: fold: %s folds into itself", ErrInvalidOp, w)
	}
	mine, err := st.ReplicaLeaf(key, w)
	if err != nil {
		return nil, fmt.Errorf("reading counter writer: %w", err)
	}
	if len(mine) == 0 {
		return nil, fmt.Errorf("%w: fold: %s has no entry in %s", ErrInvalidOp, w, p)
	}
	last := mine[len(mine)-1]
	if last.Base {
		return nil, fmt.Errorf("%w: fold: %s is already folded at %d", ErrInvalidOp, w, last.Dot.Seq)
	}
	share := counterShare(mine)
	delta := NewObject()
	delta.meta.Types = TypeSetOf(p.Root)
	base := Entry{Dot: last.Dot, P: last.P, N: last.N, Base: true}
	delta.meta.Ctx.Add(last.Dot)
	es := []Entry{base}
	if share.P != 0 || share.N != 0 {
		fes, err := st.ReplicaLeaf(key, fold)
		if err != nil {
			return nil, fmt.Errorf("reading fold writer: %w", err)
		}
		dot := Dot{Replica: fold, Seq: m.Ctx.Max(fold) + 1}
		if dot.Seq > MaxSeq {
			return nil, ErrSeqExhausted
		}
		fe := Entry{Dot: dot}
		if len(fes) > 0 {
			prev := fes[len(fes)-1]
			fe.P, fe.N = prev.P, prev.N
		}
		fe.P += share.P
		fe.N += share.N
		if fe.P > MaxSafeInt || fe.N > MaxSafeInt {
			return nil, fmt.Errorf("%w: fold: %s's totals would pass 2^53-1", ErrOutOfRange, fold)
		}
		for _, e := range fes {
			delta.meta.Ctx.Add(e.Dot)
		}
		delta.meta.Ctx.Add(dot)
		es = append(es, fe)
		slices.SortFunc(es, compareEntryDot)
	}
	_ = delta.SetLeaf(key, es)
	if err := JoinInto(st, m, delta); err != nil {
		return nil, err
	}
	return delta, nil
}

// Fold folds writer w of o, a root counter, into fold (see Fold).
func (o *Object) Fold(w, fold ReplicaID) (*Object, error) {
	t := o.Type()
	if t != TypeGCounter && t != TypePNCounter {
		return nil, fmt.Errorf("%w: fold: the object is a %s, not a counter", ErrInvalidOp, t)
	}
	return Fold(o, &o.meta, Path{Root: t}.Key(), w, fold)
}

// Zeroed is one zeroed writer of a counter leaf: the leaf's key and the
// writer's base.
type Zeroed struct {
	Key  string
	Base Entry
}

// SplitZeroed takes every zeroed writer out of o's counter leaves and
// returns them, in key and writer order: what a replica keeps apart from
// an object's hot state (the node's cold key range). o's value does not
// change. To put one back, SetReplicaLeaf(z.Key, z.Base.Dot.Replica,
// []Entry{z.Base}).
//
// What is left is fit for a client (plus that client's own base), not for
// repair between nodes: joined where the fold was lost, it removes the
// writer's raw entry without giving its base, and the writer's return
// would count the folded amount twice (docs/crdt-cost.md).
func (o *Object) SplitZeroed() []Zeroed {
	var out []Zeroed
	var keys []string
	o.eachLeaf(func(key string, es []Entry) {
		if leafKindOfKey(key) == leafCounter && hasBase(es) {
			keys = append(keys, key)
		}
	})
	for _, key := range keys {
		es, _ := o.Leaf(key)
		for _, e := range es {
			if !e.Base {
				continue
			}
			if mine, _ := o.ReplicaLeaf(key, e.Dot.Replica); IsZeroed(mine) {
				out = append(out, Zeroed{Key: key, Base: e})
			}
		}
		for _, z := range out {
			if z.Key == key {
				_ = o.SetReplicaLeaf(key, z.Base.Dot.Replica, nil)
			}
		}
	}
	return out
}

// ForgetReplica takes r out of o's causal context: a state sent to a
// client that holds nothing of o, from which r's zeroed entries were taken
// out (SplitZeroed), needs not name r (node/api/ws_folded.go). It refuses
// an object that still holds an entry of r (the context must cover every
// entry), or whose context is lazy (it would not see r's whole entry).
// What is left is still a set of dots, so still a causal context.
func (o *Object) ForgetReplica(r ReplicaID) error {
	if o.meta.Ctx.IsLazy() {
		return fmt.Errorf("%w: forget %s: the context is lazy", ErrInvalidOp, r)
	}
	for d := range o.dots {
		if d.Replica == r {
			return fmt.Errorf("%w: forget %s: the object holds its entry %d", ErrInvalidOp, r, d.Seq)
		}
	}
	c := &o.meta.Ctx
	delete(c.vv, r)
	for d := range c.cloud {
		if d.Replica == r {
			delete(c.cloud, d)
		}
	}
	return nil
}
