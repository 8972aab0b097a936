package replica

import (
	"sort"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// MemberInfo is one peer as this node sees it.
type MemberInfo struct {
	Name      string            `json:"name"`
	ID        string            `json:"id,omitempty"`
	Addr      string            `json:"addr,omitempty"`
	HTTP      string            `json:"http,omitempty"` // the peer's advertised HTTP URL (its transport meta)
	Reachable bool              `json:"reachable"`
	VV        map[string]uint64 `json:"vv,omitempty"` // as the peer last reported it
	Lag       uint64            `json:"lag"`          // our entries it lacked then
	LastSeen  *time.Time        `json:"last_seen,omitempty"`
}

// Members is every peer the transport knows, as replication last heard
// from it, by name; ours is this node's vector, to tell each peer's lag.
func (r *Replicator) Members(ours crdt.VersionVector) []MemberInfo {
	ms := []MemberInfo{}
	for _, p := range r.net.Peers() {
		mi := MemberInfo{Name: p.Name, Addr: p.Addr, HTTP: p.Meta, Reachable: p.Reachable}
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
