package node

// The node counts the work it has under way in n.busy, which the store and
// replication share (their Config.Busy): a write from the moment it is
// queued for the committer until its batch has landed (its changes
// observed and pushed to peers), and every task replication queues for a
// peer message until it has run. Together with the ticks its
// Clock counts (Ticker.Done), this tells a simulation when everything one
// event started has finished, so that it can take the next event without
// racing it: that is what makes a simulated run replayable. Production
// only pays an atomic add per write.

// idle reports whether no counted work is under way. Ticks the Clock
// delivered and the node has not yet handled are the Clock's to count.
func (n *Node) idle() bool { return n.busy.Load() == 0 }
