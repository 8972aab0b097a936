package api

import (
	"fmt"

	"github.com/lattice-sync/lattice/crdt"
)

// Folded counter writers and clients (issue 13; docs/crdt-cost.md, "What
// is reclaimed, and what is not").
//
// A folded writer's entries are a base alone (crdt.IsZeroed): it adds
// nothing to the counter. The states a node sends a client (snapshot pages,
// whole or in parts) leave such writers out, but for the client's own
// (clientState): its copy must go on from its base, or its next entry
// falls below the base and is refused (crdt.ErrCounterBehind). The context
// stays whole, so the client's join of the state removes whatever raw
// entries of those writers it held, and the fold entries carry their
// counts.
//
// Why the context cannot leave them out too (it is most of a folded
// counter's snapshot: 17 B a writer in binary). Snapshots do not go only
// to new clients: a resync (a slow connection's dropped queue), a cursor
// the logs no longer reach, and a sub with "fresh" (which clients send
// whenever their cursor does not vouch for the target, copy or no copy)
// all answer a client that may hold raw entries of a writer folded since,
// and clients join a snapshot into their copy, as any state. A raw entry
// is dropped by a join only when the other side's context covers its dot;
// with the writer's context entry left out the client would keep it next
// to the fold entry that holds its share, and count it twice, until the
// writer writes again. TestClientState checks it, and on three nodes
// TestFoldedWritersLeaveClientSnapshots. Only a sub with "empty", by which
// the client says it holds no object and no delta of its own under the
// target, gets a first snapshot without them (forget; never a resumed one,
// never after a resync): the Go and JS clients send it when so, and one
// that lies only miscounts its own view, since nothing the node takes from
// a client depends on its copy (the client rule). Live deltas around that
// snapshot: liveFor.
//
// A client whose copy came from such a state has no base for those
// writers. Should one of them return without having seen its fold, its
// delta holds its raw totals, the folded amount included, and joined as
// such at that client it would count that amount twice (once more in the
// fold entry). So every delta the node sends a client (live, or from the
// logs) carries, for each writer of a root counter it names without a
// base, the base the node holds (withBases). Between nodes nothing
// changes: states and deltas there carry every base.

// rootCounterLeaves are the leaves folds happen in: a root counter's
// (crdt.Fold refuses any other).
var rootCounterLeaves = []string{
	crdt.Path{Root: crdt.TypeGCounter}.Key(),
	crdt.Path{Root: crdt.TypePNCounter}.Key(),
}

// isCounter reports whether o holds a root counter.
func isCounter(o *crdt.Object) bool {
	ts := o.Types()
	return ts.Has(crdt.TypeGCounter) || ts.Has(crdt.TypePNCounter)
}

// clientState takes out of o, a state about to go to client me, every
// zeroed counter writer but me; o's value does not change. With forget
// (the first answer of an "empty" subscription: the client holds nothing
// of o) it also takes those writers out of o's context. It returns how
// many writers it took out.
func clientState(o *crdt.Object, me crdt.ReplicaID, forget bool) int {
	if !isCounter(o) {
		return 0
	}
	zs := o.SplitZeroed()
	n := 0
	for _, z := range zs {
		w := z.Base.Dot.Replica
		if w == me {
			_ = o.SetReplicaLeaf(z.Key, me, []crdt.Entry{z.Base})
			continue
		}
		n++
		if forget {
			// It refuses only a writer with entries left in another
			// leaf; its context entry then stays, as without forget.
			_ = o.ForgetReplica(w)
		}
	}
	return n
}

// withBases returns d, a delta of the object at key about to go to
// clients, or a copy of it that also carries the node's base of every root
// counter writer d has raw entries of and no base (one store read per such
// writer; a client's delta names one).
func (n *Backend) withBases(key string, d *crdt.Object) (*crdt.Object, error) {
	if !isCounter(d) {
		return d, nil
	}
	var add []crdt.Entry
	var leaves []string
	for _, leaf := range rootCounterLeaves {
		es, _ := d.Leaf(leaf)
		for i := 0; i < len(es); {
			w := es[i].Dot.Replica
			based := false
			for ; i < len(es) && es[i].Dot.Replica == w; i++ {
				based = based || es[i].Base
			}
			if based {
				continue
			}
			mine, err := n.Store.ReplicaLeaf(key, leaf, w)
			if err != nil {
				return nil, fmt.Errorf("reading the base of %s in %q: %w", w, key, err)
			}
			if len(mine) > 0 && mine[0].Base {
				add = append(add, mine[0])
				leaves = append(leaves, leaf)
			}
		}
	}
	if len(add) == 0 {
		return d, nil
	}
	bases := crdt.NewObject()
	for i, b := range add {
		old, _ := bases.Leaf(leaves[i])
		_ = bases.SetLeaf(leaves[i], append(old, b))
	}
	out := d.Clone()
	out.Join(bases)
	return out, nil
}

// forClients is lc's delta as clients get it (withBases), made once for
// every connection.
func (lc *liveChange) forClients(n *Backend) (*crdt.Object, error) {
	lc.clientOnce.Do(func() { lc.client, lc.clientErr = n.withBases(lc.key, lc.delta) })
	return lc.client, lc.clientErr
}
