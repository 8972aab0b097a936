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
