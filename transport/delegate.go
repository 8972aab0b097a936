package transport

import "github.com/hashicorp/memberlist"

// delegate adapts memberlist's callbacks to Memberlist, in the manner of
// hashicorp/serf's delegate.go, so that Memberlist's own exported methods do
// not include memberlist's callback surface.
//
// Lattice uses none of memberlist's gossip payload facilities (node meta,
// piggy-backed broadcasts, push/pull state): deltas go point to point over
// the reliable channel, and anti-entropy is the node's business.
type delegate struct{ m *Memberlist }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
)

// NotifyMsg runs on memberlist's stream handler goroutine, one per inbound
// connection; buf is reused after return.
func (d delegate) NotifyMsg(buf []byte) { d.m.handleFrame(buf) }
func (d delegate) NodeMeta(limit int) []byte {
	if len(d.m.cfg.Meta) > limit {
		return nil
	}
	return d.m.cfg.Meta
}
func (d delegate) GetBroadcasts(int, int) [][]byte     { return nil }
func (d delegate) LocalState(bool) []byte              { return nil }
func (d delegate) MergeRemoteState(buf []byte, _ bool) {}

// The EventDelegate methods run while memberlist holds its node lock, so they
// only update Memberlist's own table and queue events; they never call out.

func (d delegate) NotifyJoin(n *memberlist.Node)   { d.m.nodeAlive(n) }
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.m.nodeAlive(n) }
func (d delegate) NotifyLeave(n *memberlist.Node)  { d.m.nodeGone(n) }
