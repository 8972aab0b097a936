package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/api"
)

// Folding counter writers (issue 13; docs/crdt-cost.md, "What is
// reclaimed, and what is not"; crdt/fold.go).
//
// crdt.Fold counts once only if every fold of a writer w is made by one
// node, each from a state holding w's earlier folds. The node keeps it by
// this rule (foldCheck), for node Y folding w:
//
//  1. Y's view V is Y's own id and every origin of its log version vector
//     (the nodes whose log entries it holds). V only grows, and survives a
//     restart (the log index is on disk).
//  2. Y is w's decider: the member of V least by sha256(w ‖ id).
//  3. Every other member of V has reported (its last anti-entropy vector)
//     a view equal to V, and Y has applied every log entry those reports
//     cover.
//
// Why two folds of w cannot miss each other: let X be another node that
// folded or folds w. X's folds made before its report to Y are entries of
// X's log the report covers, so Y holds them (3). After its report X's
// view holds V (views grow), in which Y is least, so X is not the decider
// any more (2). A node whose view lacks Y is not a problem either: Y is in
// V, so Y is in X's report's view only if X holds Y's log; a node that has
// not yet reported V to Y keeps Y from folding.
//
// What the rule costs: a node that leaves for good (its id stays in every
// vector) stops all folds, as a node that never reports does. Folds are
// worth making (not needed for correctness) once every node holds the
// writer's latest entry: Fold waits until every report covers this node's
// vector as it was when asked (foldStable).

// Errors of Node.Fold.
var (
	// ErrNotDecider: another node is w's decider; ask it.
	ErrNotDecider = api.ErrNotDecider
	// ErrFoldNotStable: the peers have not reported what the rule needs
	// in time; retryable.
	ErrFoldNotStable = api.ErrFoldNotStable
)

// foldRank is what orders the candidates to decide w's folds.
func foldRank(w, id crdt.ReplicaID) []byte {
	h := sha256.Sum256(append(w[:], id[:]...))
	return h[:]
}

// FoldDecider is the member of view least by sha256(w ‖ id).
func FoldDecider(w crdt.ReplicaID, view []crdt.ReplicaID) crdt.ReplicaID {
	var best crdt.ReplicaID
	var rank []byte
	for _, id := range view {
		if r := foldRank(w, id); rank == nil || bytes.Compare(r, rank) < 0 {
			best, rank = id, r
		}
	}
	return best
}

// foldView is a node's view: its id and its vector's origins.
func foldView(self crdt.ReplicaID, vv crdt.VersionVector) map[crdt.ReplicaID]bool {
	v := map[crdt.ReplicaID]bool{self: true}
	for o, s := range vv {
		if s > 0 {
			v[o] = true
		}
	}
	return v
}

// covers reports whether a holds every entry b does.
func covers(a, b crdt.VersionVector) bool {
	for o, s := range b {
		if a[o] < s {
			return false
		}
	}
	return true
}

// foldCheck tells whether this node may fold w now (rules 1 to 3), and
// whether every peer's report covers mark (stable).
func (n *Node) foldCheck(w crdt.ReplicaID, mark crdt.VersionVector) (stable bool, err error) {
	self := n.ID()
	ours := n.st.VersionVector()
	view := foldView(self, ours)
	ids := make([]crdt.ReplicaID, 0, len(view))
	for id := range view {
		ids = append(ids, id)
	}
	if d := FoldDecider(w, ids); d != self {
		return false, fmt.Errorf("%w: %s decides %s", ErrNotDecider, d, w)
	}
	var reports map[crdt.ReplicaID]crdt.VersionVector
	if r := n.repl.Load(); r != nil {
		reports = r.Reports()
	}
	stable = true
	for id := range view {
		if id == self {
			continue
		}
		rep, ok := reports[id]
		if !ok {
			return false, fmt.Errorf("%w: no report from %s", ErrFoldNotStable, id)
		}
		theirs := foldView(id, rep)
		if len(theirs) != len(view) {
			return false, fmt.Errorf("%w: %s's view differs", ErrFoldNotStable, id)
		}
		for o := range theirs {
			if !view[o] {
				return false, fmt.Errorf("%w: %s's view differs", ErrFoldNotStable, id)
			}
		}
		if !covers(ours, rep) {
			return false, fmt.Errorf("%w: %s reported entries not applied here", ErrFoldNotStable, id)
		}
		stable = stable && covers(rep, mark)
	}
	return stable, nil
}

// Fold folds counter writer w of the root counter at key into this node's
// fold replica (Store.Fold), once the node rule above allows it and every
// peer holds what this node held when asked. It waits for the peers'
// reports, polling on Config.Clock, until ctx ends or for at most
// foldWait rounds of anti-entropy, and then returns ErrFoldNotStable.
// ErrNotDecider names the node that decides w. Folding a writer already
// folded, or not a writer of the counter, is crdt.ErrInvalidOp.
func (n *Node) Fold(ctx context.Context, key string, w crdt.ReplicaID) (*crdt.Object, error) {
	mark := n.st.VersionVector()
	var tk Ticker
	for tries := 0; ; tries++ {
		stable, err := n.foldCheck(w, mark)
		if errors.Is(err, ErrNotDecider) {
			return nil, err
		}
		if err == nil && stable {
			return n.st.Fold(ctx, key, w)
		}
		if err == nil {
			err = fmt.Errorf("%w: the peers do not hold this node's entries yet", ErrFoldNotStable)
		}
		if tries == foldWait*foldPolls {
			return nil, err
		}
		if tk == nil {
			tk = n.cfg.Clock.NewTicker(max(n.cfg.AntiEntropyInterval/foldPolls, time.Millisecond))
			defer tk.Stop()
		}
		select {
		case <-tk.C():
			tk.Done()
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-n.quit:
			return nil, ErrClosed
		}
	}
}

// Fold waits for reports at most foldWait anti-entropy rounds, looking at
// them foldPolls times a round.
const (
	foldWait  = 5
	foldPolls = 4
)
