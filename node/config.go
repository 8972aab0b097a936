package node

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// Name is the node's name in the cluster; it must be unique. No default.
	Name string
	// Dir is the Badger data directory. No default.
	Dir string
	// AdvertiseHTTP is the URL clients and the demo reach this node's HTTP
	// API at, shown in ClusterInfo. Default "": unknown.
	AdvertiseHTTP string
	// ClusterID names the cluster, the same on every node of it. Nodes
	// report it (the WebSocket welcome, /v1/cluster) and clients remember
	// it, so a replica that synced with one cluster refuses the nodes of
	// another instead of mixing their histories. Default "": none
	// reported, clients do not check.
	ClusterID string
	// SyncWrites makes every acknowledged write durable (fsync, shared by
	// all writes in a group commit). Default true: an acknowledged write
	// survives kill -9. False trades that for speed: a crash may lose the
	// last writes, which anti-entropy then restores only if a peer has them.
	SyncWrites bool
	// AntiEntropyInterval is how often the node compares version vectors
	// with its peers. Default 2s: pushes carry the live traffic, so this
	// only bounds how long a missed push stays missed.
	AntiEntropyInterval time.Duration
	// SyncFanout is how many reachable peers, picked at random, the node
	// asks in each anti-entropy round; 0 asks every one. Default 1: every
	// asked peer answers with everything the node lacks (and asks back for
	// what it lacks itself), so one peer a round repairs as much as all of
	// them would, while asking all of them has each neighbour answer the
	// same gap in the same round. A peer that joins or becomes reachable
	// again is asked at once, whatever the fanout.
	SyncFanout int
	// MaxBatch is how many queued writes one commit takes at most. Default
	// 512: enough to amortise a sync, small enough to keep latency flat.
	MaxBatch int
	// MaxSyncBytes bounds what one anti-entropy answer sends. Default 4 MiB;
	// the rest follows in the next round, which starts from the receiver's
	// new version vector, so large transfers resume rather than restart.
	MaxSyncBytes int
	// MaxClockSkew bounds how far ahead of local physical time a peer's
	// clock may pull this node's hybrid clock. Default 1 minute.
	MaxClockSkew time.Duration
	// UnseenDotsWait is how long a client delta whose causal context covers
	// other replicas' dots this node has not received yet (the client read
	// from a node further ahead) waits for them to arrive by replication
	// before it is refused with the retryable unseen_dots error. Default
	// 2s: a push from a live peer takes milliseconds, an anti-entropy round
	// AntiEntropyInterval; longer would only hold the client's slot. Zero
	// refuses at once.
	UnseenDotsWait time.Duration
	// MaxWaitingDeltas bounds how many such deltas wait at once, node-wide,
	// so a flood of them costs bounded memory; past it they are refused at
	// once. Default 1024.
	MaxWaitingDeltas int
	// LogRetention is how many entries of each node's log this node keeps.
	// Older entries are dropped; a peer that needs them gets the objects'
	// state instead (state transfer). Default DefaultLogRetention, 100,000:
	// minutes to hours of writes, so that a node that was down briefly
	// catches up from the log alone. A small value drives a node that was
	// away into state transfer: tests and operators set it to exercise it.
	LogRetention uint64
	// MemTableSize is the size of Badger's in-memory tables, in bytes:
	// the memory writes collect in before they are flushed to disk, and
	// what every open allocates up front. It also bounds one commit to
	// about a seventh of it. Default 64 MiB (Badger's). A smaller value
	// saves memory; tests that open many stores use the least, 8 MiB.
	MemTableSize int64
	// FullState turns off delta propagation: pushes and anti-entropy ship
	// whole object states (node/replica/fullstate.go). It is the baseline lattice bench
	// measures deltas against, not for production: traffic then grows with
	// the store, and lattice serve has no flag for it. Default false.
	FullState bool
	// FoldAfter turns on the fold scheduler (node/replica/fold.go): root counters'
	// writers whose latest entry this node has seen unchanged for longer
	// than FoldAfter, and that this node decides, are folded into its fold
	// replica once the peers' reports allow it, so a retired writer stops
	// adding a live entry (docs/crdt-cost.md, "What is reclaimed, and what
	// is not"). Each round (every FoldAfter/2, at least the anti-entropy
	// interval) looks at foldKeysPerRound objects and folds at most
	// foldsPerRound writers. Default 0: off.
	FoldAfter time.Duration
	// EncryptionKey, if set, encrypts the data directory at rest (Badger's
	// AES-CTR, with data keys rotated every 10 days and kept encrypted
	// under this one): 16, 24 or 32 bytes for AES-128, -192 or -256. A
	// directory written with a key opens only with that key. Default nil:
	// not encrypted.
	EncryptionKey []byte
	// Now returns physical time in milliseconds, which the hybrid clock
	// stamps writes with. Default: the wall clock. Tests inject skewed
	// clocks.
	Now func() int64
	// Clock measures the node's intervals and timeouts (see Clock).
	// Default WallClock.
	Clock Clock
	// Rand is the source of the node's random choices (random.go): its
	// replica id when the directory is new, state-transfer session ids,
	// the order anti-entropy visits peers in. Default CryptoSource. A
	// simulation seeds it to replay a run; the node serialises its calls.
	Rand rand.Source
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultLogRetention is Config.LogRetention's default.
const DefaultLogRetention = 100_000

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig(name, dir string) Config {
	return Config{
		Name:                name,
		Dir:                 dir,
		SyncWrites:          true,
		AntiEntropyInterval: 2 * time.Second,
		SyncFanout:          1,
		MaxBatch:            512,
		MaxSyncBytes:        4 << 20,
		MaxClockSkew:        time.Minute,
		LogRetention:        DefaultLogRetention,
		MemTableSize:        64 << 20,
		UnseenDotsWait:      2 * time.Second,
		MaxWaitingDeltas:    1024,
		Now:                 func() int64 { return time.Now().UnixMilli() },
		Clock:               WallClock,
		Rand:                CryptoSource,
		Logger:              slog.Default(),
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("Name is empty"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	if c.AntiEntropyInterval <= 0 {
		errs = append(errs, fmt.Errorf("AntiEntropyInterval %v must be positive", c.AntiEntropyInterval))
	}
	if c.SyncFanout < 0 {
		errs = append(errs, fmt.Errorf("SyncFanout %d must not be negative", c.SyncFanout))
	}
	if c.MaxBatch <= 0 {
		errs = append(errs, fmt.Errorf("MaxBatch %d must be positive", c.MaxBatch))
	}
	if c.MaxSyncBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("MaxSyncBytes %d must be at least 64 KiB", c.MaxSyncBytes))
	}
	if c.UnseenDotsWait < 0 {
		errs = append(errs, fmt.Errorf("UnseenDotsWait %v must not be negative", c.UnseenDotsWait))
	}
	if c.MaxWaitingDeltas < 0 {
		errs = append(errs, fmt.Errorf("MaxWaitingDeltas %d must not be negative", c.MaxWaitingDeltas))
	}
	if c.MemTableSize < 8<<20 {
		errs = append(errs, fmt.Errorf("MemTableSize %d must be at least 8 MiB (Badger keeps values up to 1 MiB in its tables)", c.MemTableSize))
	}
	if c.FoldAfter < 0 {
		errs = append(errs, fmt.Errorf("FoldAfter %v must not be negative", c.FoldAfter))
	}
	if c.LogRetention == 0 {
		errs = append(errs, errors.New("LogRetention must be positive"))
	}
	if n := len(c.EncryptionKey); n != 0 && n != 16 && n != 24 && n != 32 {
		errs = append(errs, fmt.Errorf("EncryptionKey is %d bytes, want 16, 24 or 32", n))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("Now is nil"))
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("Clock is nil"))
	}
	if c.Rand == nil {
		errs = append(errs, errors.New("Rand is nil"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("Logger is nil"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("node config: %w", errors.Join(errs...))
	}
	return nil
}
