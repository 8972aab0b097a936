package replica

import (
	"sort"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// Full-state mode (Config.FullState): the baseline that lattice bench's
// gossip-bytes scenario measures delta propagation against, as in Enes et
// al., and that TestDifferentialDeltaVsFullState checks it against. A node
// in this mode pushes the whole state of every object a commit changed,
// and answers every anti-entropy request with the whole state of every
// object. It is not for production (lattice serve has no flag for it):
// its traffic grows with the store, not with the change. The replicator
// branches here in three places only: afterCommit, answer, and the
// short-vector check of Receive; receiving states (msgStates) works in
// either mode.

// answerStates answers a peer's anti-entropy request with every object's
// whole state.
func (r *Replicator) answerStates(from string) {
	var items []crdt.BatchItem
	_ = r.st.Scan("", func(k string, o *crdt.Object) error {
		items = append(items, crdt.BatchItem{Key: k, Delta: o})
		return nil
	})
	r.sendStates([]string{from}, items)
}

// pushStates sends whole states of the changed keys (full-state mode).
func (r *Replicator) pushStates(changes []store.Change) {
	keys := map[string]bool{}
	for _, c := range changes {
		keys[c.Key] = true
	}
	var items []crdt.BatchItem
	for k := range keys {
		o, err := r.st.Get(k)
		if err != nil {
			continue
		}
		items = append(items, crdt.BatchItem{Key: k, Delta: o})
	}
	r.sendStates(r.reachable(), items)
}

func (r *Replicator) sendStates(peers []string, items []crdt.BatchItem) {
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	for len(items) > 0 {
		n := len(items)
		var raw []byte
		for {
			b, err := crdt.Batch{Clock: r.st.Now(), Items: items[:n]}.MarshalBinary()
			if err == nil && (len(b) <= MaxChunk || n == 1) {
				raw = b
				break
			}
			n = (n + 1) / 2
		}
		if len(raw) <= MaxChunk {
			msg := encodeStates(r.st.ID(), raw)
			for _, p := range peers {
				r.send(p, "state", msg)
			}
		} else {
			r.log.Warn("object state too large for one message", "key", items[0].Key, "bytes", len(raw))
		}
		items = items[n:]
	}
}
