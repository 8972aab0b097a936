package replica

import (
	"sort"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// Member is one peer as replication sees it: what the transport says of
// it, and what it last reported.
type Member struct {
	Name      string
	ID        string
	Addr      string
	HTTP      string // the peer's advertised HTTP URL (its transport meta)
	Reachable bool
	VV        map[string]uint64 // as the peer last reported it
	Lag       uint64            // our entries it lacked then
	LastSeen  *time.Time
}

// Members is every peer the transport knows, as replication last heard
// from it, by name; ours is this node's vector, to tell each peer's lag.
func (r *Replicator) Members(ours crdt.VersionVector) []Member {
	ms := []Member{}
	for _, p := range r.net.Peers() {
		mi := Member{Name: p.Name, Addr: p.Addr, HTTP: p.Meta, Reachable: p.Reachable}
		r.mu.Lock()
		if info := r.peers[p.Name]; info != nil {
			mi.ID = info.id.String()
			if info.vv != nil {
				mi.VV = store.VVJSON(info.vv)
				mi.Lag = lag(ours, info.vv)
			}
			seen := info.seen
			mi.LastSeen = &seen
		}
		r.mu.Unlock()
		ms = append(ms, mi)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}

// Reports is, by peer replica id, the log version vector each peer last
// reported (in its anti-entropy requests and answers), for the node's fold
// rule (node/fold.go). A peer not heard from yet is absent.
func (r *Replicator) Reports() map[crdt.ReplicaID]crdt.VersionVector {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[crdt.ReplicaID]crdt.VersionVector, len(r.peers))
	for _, p := range r.peers {
		if p.vv == nil || p.id == (crdt.ReplicaID{}) {
			continue
		}
		vv := make(crdt.VersionVector, len(p.vv))
		for o, s := range p.vv {
			vv[o] = s
		}
		out[p.id] = vv
	}
	return out
}
