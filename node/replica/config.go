package replica

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lattice-sync/lattice/node/store"
)

// Config is what replication needs of the node's Config.
type Config struct {
	AntiEntropyInterval time.Duration
	SyncFanout          int
	MaxSyncBytes        int
	FullState           bool
	// FoldAfter turns the fold scheduler on (fold.go); 0: off.
	FoldAfter time.Duration
	Clock     store.Clock
	Rand      Rand
	Logger    *slog.Logger
	// Busy counts work under way (the node's, shared with the store): a
	// peer task from its queueing until it has run.
	Busy    *atomic.Int64
	Metrics *Metrics
	// OnPresence, if set, is called with a peer's presence states (a JSON
	// list), which are never stored. It must not block for long: it runs
	// on the transport's receive path.
	OnPresence func(from string, list []byte)
}

// Rand is the random choices replication makes: the order anti-entropy
// visits peers and state-transfer session ids. It must be safe for
// concurrent use.
type Rand interface {
	Uint64() uint64
	Shuffle(n int, swap func(i, j int))
}
