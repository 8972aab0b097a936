package node

import (
	"context"
	"errors"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

// untilSeen runs try, a client delta's submission, and while it fails with
// crdt.ErrUnseenDots retries it after each commit that brought state from
// peers, until UnseenDotsWait has passed. The delta waits on the client's
// own goroutine and holds nothing but a slot of MaxWaitingDeltas; it is
// never stored until it passes the rule.
func (n *Node) untilSeen(ctx context.Context, try func() error) error {
	arrived := n.arrived()
	err := try()
	if !errors.Is(err, crdt.ErrUnseenDots) || n.cfg.UnseenDotsWait == 0 {
		return err
	}
	if n.waiting.Add(1) > int64(n.cfg.MaxWaitingDeltas) {
		n.waiting.Add(-1)
		n.metrics.unseenRefused.Inc()
		return err
	}
	defer n.waiting.Add(-1)
	deadline := time.NewTimer(n.cfg.UnseenDotsWait)
	defer deadline.Stop()
	for {
		select {
		case <-arrived:
		case <-deadline.C:
			n.metrics.unseenRefused.Inc()
			return err
		case <-ctx.Done():
			return err
		case <-n.quit:
			return ErrClosed
		}
		arrived = n.arrived()
		if err = try(); !errors.Is(err, crdt.ErrUnseenDots) {
			return err
		}
	}
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
