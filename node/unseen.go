package node

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-sync/lattice/crdt"
)

// untilSeen runs try, a client delta's submission for key, and while it
// fails with a crdt.UnseenError waits for the dots it names: after each
// commit that brought state from peers it reads key's meta (a point read,
// not a trip through the committer) and submits again only once they are
// all here, until UnseenDotsWait has passed. The delta waits on the
// client's own goroutine and holds nothing but a slot: one of
// MaxWaitingDeltas node-wide, and one of its connection's share (see
// withWaitShare). It is never stored until it passes the rule. A delta
// refused with crdt.ErrCounterBehind waits the same way, retried after
// each commit that joined new state.
func (n *Node) untilSeen(ctx context.Context, key string, try func() error) error {
	err := try()
	if errors.Is(err, crdt.ErrCounterBehind) {
		// The same client's remove of the entry it is below may be in
		// flight on another of its connection's goroutines: retry after
		// each commit that joined new state; if none helps in time, the
		// delta is refused (invalid_delta).
		return n.waitArrivals(ctx, err, nil, func() (error, bool) {
			err := try()
			return err, !errors.Is(err, crdt.ErrCounterBehind)
		})
	}
	var unseen *crdt.UnseenError
	if !errors.As(err, &unseen) {
		return err
	}
	return n.waitArrivals(ctx, err, n.metrics.unseenRefused, func() (error, bool) {
		if !n.covered(key, unseen) {
			return err, false
		}
		if err = try(); !errors.As(err, &unseen) {
			return err, true
		}
		return err, false // other dots are missing now: wait for those
	})
}

// waitArrivals calls step after every commit that joined new state (and
// once at once), until step says it is done or UnseenDotsWait has passed,
// holding one of MaxWaitingDeltas slots meanwhile; err is what stands if
// it never is, counted in refused.
func (n *Node) waitArrivals(ctx context.Context, err error, refused prometheus.Counter, step func() (error, bool)) error {
	count := func() {
		if refused != nil {
			refused.Inc()
		}
	}
	if n.cfg.UnseenDotsWait == 0 {
		return err
	}
	release, ok := n.takeWaitSlot(ctx)
	if !ok {
		count()
		return err
	}
	defer release()
	// The first tick is the deadline; the clock is Config.Clock, so a
	// test's manual clock decides it.
	deadline := n.cfg.Clock.NewTicker(n.cfg.UnseenDotsWait)
	defer deadline.Stop()
	for {
		arrived := n.arrived()
		e, done := step()
		if done {
			return e
		}
		err = e
		select {
		case <-arrived:
		case <-deadline.C():
			deadline.Done() // handled: the delta is refused
			count()
			return err
		case <-ctx.Done():
			return err
		case <-n.quit:
			return ErrClosed
		}
	}
}

// covered reports whether key's stored context holds every dot e names.
func (n *Node) covered(key string, e *crdt.UnseenError) bool {
	covered := false
	err := n.db.View(func(txn *badger.Txn) error {
		sm, _, err := openMeta(readKV{txn}, key)
		if err != nil {
			return err
		}
		covered = e.CoveredBy(&sm.m)
		return sm.m.Ctx.Err()
	})
	return err == nil && covered
}

// waitShareKey carries a connection's share of waiting slots in a context.
type waitShareKey struct{}

// withWaitShare gives every delta submitted with the returned context one
// pool of at most n waiting slots, so that one connection cannot take all
// of MaxWaitingDeltas from the others.
func withWaitShare(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, waitShareKey{}, make(chan struct{}, n))
}

// takeWaitSlot takes a node-wide slot and, if ctx carries one, a slot of
// its connection's share; false if either is full.
func (n *Node) takeWaitSlot(ctx context.Context) (release func(), ok bool) {
	share, _ := ctx.Value(waitShareKey{}).(chan struct{})
	if share != nil {
		select {
		case share <- struct{}{}:
		default:
			return nil, false
		}
	}
	if n.waiting.Add(1) > int64(n.cfg.MaxWaitingDeltas) {
		n.waiting.Add(-1)
		if share != nil {
			<-share
		}
		return nil, false
	}
	return func() {
		n.waiting.Add(-1)
		if share != nil {
			<-share
		}
	}, true
}

// arrived returns a channel closed by the next commit that joins state
// from peers.
func (n *Node) arrived() <-chan struct{} {
	n.arrivalsMu.Lock()
	defer n.arrivalsMu.Unlock()
	return n.arrivals
}

// noteArrivals wakes the deltas waiting for dots; the committer calls it
// after a commit that joined peers' state.
func (n *Node) noteArrivals() {
	n.arrivalsMu.Lock()
	close(n.arrivals)
	n.arrivals = make(chan struct{})
	n.arrivalsMu.Unlock()
}
