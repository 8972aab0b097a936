package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
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
// The rule is checked twice: before the fold request is queued, and by the
// committer just before the fold (foldGate), with the origins of the
// entries staged but not landed counted in the view. So a fold lands
// before any vector this node reports that names an origin its check did
// not see: if X's check did not see Y, every report of X naming Y covers
// X's fold; if it did, X was least of a view holding Y, and Y, least of
// the view X later reported, which holds X, cannot be.
//
// What the rule costs: a node that leaves for good (its id stays in every
// vector) stops all folds, as a node that never reports does. Folds are
// worth making (not needed for correctness) once every node holds the
// writer's latest entry: Fold waits until every report covers this node's
// vector as it was when asked (the mark), and the scheduler until every
// report covers the vector it had when it first saw the writer's latest
// entry.

// The rule's refusals are store.ErrNotDecider and store.ErrFoldNotStable.
var (
	ErrNotDecider    = store.ErrNotDecider
	ErrFoldNotStable = store.ErrFoldNotStable
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

// ownView is this node's id, its vector, and its view (as a set and as a
// list).
func (r *Replicator) ownView() (self crdt.ReplicaID, ours crdt.VersionVector, view map[crdt.ReplicaID]bool, ids []crdt.ReplicaID) {
	self = r.st.ID()
	ours = r.st.VersionVector()
	view = foldView(self, ours)
	for id := range view {
		ids = append(ids, id)
	}
	return self, ours, view, ids
}

// foldGate is the rule again, run by the committer just before the fold
// (store.Request.Gate), with the origins of the entries it has staged: a
// check made earlier could be stale by then. Were a peer Z's first entries
// to land after the check but before the fold, this node could report a
// view with Z, which lets Z fold w, while its own fold of w is not in that
// report. Run in the committer, the check sees Z's entries if they are in
// a commit before the fold's, and otherwise the fold lands before them, so
// any report naming Z covers the fold.
func (r *Replicator) foldGate(w crdt.ReplicaID, mark crdt.VersionVector) func(map[crdt.ReplicaID]bool) error {
	return func(staged map[crdt.ReplicaID]bool) error {
		stable, err := r.foldCheck(w, mark, staged)
		if err == nil && !stable {
			err = fmt.Errorf("%w: the peers do not hold this node's entries yet", ErrFoldNotStable)
		}
		return err
	}
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

// foldState is what the rule reads besides the writer, read once: this
// node's view (rule 1) and whether the peers' reports allow folds at all
// (rule 3).
type foldState struct {
	self    crdt.ReplicaID
	view    map[crdt.ReplicaID]bool
	ids     []crdt.ReplicaID
	reports []crdt.VersionVector // the other members', once rule 3 holds
	err     error                // why rule 3 does not hold (ErrFoldNotStable)
}

// foldState reads the rule's state. staged, if not nil, are origins to
// count in the view besides the vector's (the committer's entries not yet
// landed: see foldGate).
func (r *Replicator) foldState(staged map[crdt.ReplicaID]bool) foldState {
	self, ours, view, ids := r.ownView()
	for o := range staged {
		if !view[o] {
			view[o] = true
			ids = append(ids, o)
		}
	}
	fs := foldState{self: self, view: view, ids: ids}
	all := r.Reports()
	for id := range view {
		if id == self {
			continue
		}
		rep, ok := all[id]
		if !ok {
			fs.err = fmt.Errorf("%w: no report from %s", ErrFoldNotStable, id)
			return fs
		}
		theirs := foldView(id, rep)
		same := len(theirs) == len(view)
		for o := range theirs {
			same = same && view[o]
		}
		if !same {
			fs.err = fmt.Errorf("%w: %s's view differs", ErrFoldNotStable, id)
			return fs
		}
		if !covers(ours, rep) {
			fs.err = fmt.Errorf("%w: %s reported entries not applied here", ErrFoldNotStable, id)
			return fs
		}
		fs.reports = append(fs.reports, rep)
	}
	return fs
}

// decides reports whether this node is w's decider (rule 2).
func (fs *foldState) decides(w crdt.ReplicaID) bool { return FoldDecider(w, fs.ids) == fs.self }

// check tells whether this node may fold w (rules 1 to 3), and whether
// every peer's report covers mark (stable).
func (fs *foldState) check(w crdt.ReplicaID, mark crdt.VersionVector) (stable bool, err error) {
	if d := FoldDecider(w, fs.ids); d != fs.self {
		return false, fmt.Errorf("%w: %s decides %s", ErrNotDecider, d, w)
	}
	if fs.err != nil {
		return false, fs.err
	}
	for _, rep := range fs.reports {
		if !covers(rep, mark) {
			return false, nil
		}
	}
	return true, nil
}

// foldCheck is the rule for w, read now (foldState.check).
func (r *Replicator) foldCheck(w crdt.ReplicaID, mark crdt.VersionVector, staged map[crdt.ReplicaID]bool) (stable bool, err error) {
	fs := r.foldState(staged)
	return fs.check(w, mark)
}

// Fold folds counter writer w of the root counter at key into this node's
// fold replica (Store.Fold), once the node rule above allows it and every
// peer holds what this node held when asked. It waits for the peers'
// reports, polling on Config.Clock, until ctx ends or for at most
// foldWait rounds of anti-entropy, and then returns ErrFoldNotStable.
// A fold replica (a version 5 UUID) is not folded (crdt.ErrInvalidOp).
// ErrNotDecider names the node that decides w. Folding a writer already
// folded, or not a writer of the counter, is crdt.ErrInvalidOp.
func (r *Replicator) Fold(ctx context.Context, key string, w crdt.ReplicaID) (*crdt.Object, error) {
	if w.Version() == 5 {
		return nil, fmt.Errorf("%w: fold: %s is a fold replica", crdt.ErrInvalidOp, w)
	}
	mark := r.st.VersionVector()
	var tk store.Ticker
	for tries := 0; ; tries++ {
		stable, err := r.foldCheck(w, mark, nil)
		if errors.Is(err, ErrNotDecider) {
			return nil, err
		}
		if err == nil && stable {
			d, ferr := r.st.Fold(ctx, key, w, r.foldGate(w, mark))
			if !errors.Is(ferr, ErrFoldNotStable) {
				return d, ferr
			}
			err = ferr // the committer's check, later, found otherwise
		}
		if err == nil {
			err = fmt.Errorf("%w: the peers do not hold this node's entries yet", ErrFoldNotStable)
		}
		if tries == foldWait*foldPolls {
			return nil, err
		}
		if tk == nil {
			tk = r.cfg.Clock.NewTicker(max(r.cfg.AntiEntropyInterval/foldPolls, time.Millisecond))
			defer tk.Stop()
		}
		select {
		case <-tk.C():
			tk.Done()
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-r.quit:
			return nil, store.ErrClosed
		}
	}
}

// Fold waits for reports at most foldWait anti-entropy rounds, looking at
// them foldPolls times a round.
const (
	foldWait  = 5
	foldPolls = 4
)

// The fold scheduler (Config.FoldAfter): bounded work per round.
const (
	foldKeysPerRound = 64  // objects looked at per round
	foldsPerRound    = 256 // writers folded per round at most
)

// foldRound is the scheduler's period: FoldAfter/2, at least the
// anti-entropy interval (reports come no faster).
func foldRound(cfg Config) time.Duration { return max(cfg.FoldAfter/2, cfg.AntiEntropyInterval) }

// idleWriter is what the scheduler remembers of a writer it decides: its
// latest sequence, when it first saw it, and this node's vector then
// (which holds that entry: the peers must hold it too before the fold).
type idleWriter struct {
	seq   uint64
	since time.Time
	mark  crdt.VersionVector
}

// idleObject is the scheduler's record of one counter: its writers this
// node decides and has not folded, and the pass it was last looked at in.
type idleObject struct {
	pass    uint64
	writers map[crdt.ReplicaID]idleWriter
}

// foldScheduler is the fold loop's state: records by object key, and
// where the scan is.
type foldScheduler struct {
	objects map[string]*idleObject
	cursor  string
	pass    uint64
}

// foldLoop runs the scheduler's rounds until the node closes.
func (r *Replicator) foldLoop(tk store.Ticker) {
	defer r.wg.Done()
	defer tk.Stop()
	fs := &foldScheduler{objects: map[string]*idleObject{}}
	for {
		select {
		case <-tk.C():
			r.foldScan(fs)
			tk.Done()
		case <-r.quit:
			return
		}
	}
}

// foldScan is one round: it looks at up to foldKeysPerRound objects after
// the cursor, notes the writers this node decides, and folds those whose
// latest entry it has seen unchanged for longer than FoldAfter and whose
// fold the rule allows (foldCheck, stable for the vector this node had
// when it first saw that entry). At the end of the keyspace a new pass
// starts, and records of objects the last pass did not meet are dropped.
func (r *Replicator) foldScan(fs *foldScheduler) {
	keys, next, err := r.st.Keys("", fs.cursor, foldKeysPerRound)
	if err != nil {
		r.log.Warn("fold scheduler: listing", "err", err)
		return
	}
	now := r.cfg.Clock.Now()
	ours := r.st.VersionVector()
	rule := r.foldState(nil) // read once a round
	folds := 0
	for _, k := range keys {
		if k.Type != crdt.TypeGCounter && k.Type != crdt.TypePNCounter {
			continue
		}
		o, err := r.st.Get(k.Key)
		if err != nil || o.Type() != k.Type {
			continue
		}
		rec := fs.objects[k.Key]
		if rec == nil {
			rec = &idleObject{writers: map[crdt.ReplicaID]idleWriter{}}
			fs.objects[k.Key] = rec
		}
		rec.pass = fs.pass
		leaf := crdt.Path{Root: k.Type}.Key()
		live := map[crdt.ReplicaID]idleWriter{}
		for _, w := range o.Replicas() {
			es, _ := o.ReplicaLeaf(leaf, w)
			// Nodes (writers of REST operations) and fold replicas are not
			// retired clients: they are left alone.
			if len(es) == 0 || crdt.IsZeroed(es) || w.Version() == 5 || rule.view[w] || !rule.decides(w) {
				continue
			}
			last := es[len(es)-1].Dot.Seq
			iw, ok := rec.writers[w]
			if !ok || iw.seq != last {
				live[w] = idleWriter{seq: last, since: now, mark: ours}
				continue
			}
			live[w] = iw
			if folds >= foldsPerRound || now.Sub(iw.since) < r.cfg.FoldAfter {
				continue
			}
			if stable, err := rule.check(w, iw.mark); err != nil || !stable {
				continue
			}
			if _, err := r.st.Fold(context.Background(), k.Key, w, r.foldGate(w, iw.mark)); err != nil {
				if !errors.Is(err, crdt.ErrInvalidOp) && !errors.Is(err, ErrFoldNotStable) && !errors.Is(err, ErrNotDecider) {
					r.log.Warn("fold scheduler: folding", "key", k.Key, "writer", w, "err", err)
				}
				continue
			}
			folds++
			delete(live, w)
		}
		rec.writers = live
	}
	fs.cursor = next
	if next == "" {
		for key, rec := range fs.objects {
			if rec.pass != fs.pass {
				delete(fs.objects, key)
			}
		}
		fs.pass++
	}
}
