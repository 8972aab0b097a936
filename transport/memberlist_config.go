package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

// The memberlist transport's configuration and its defaults.

// MemberlistConfig configures a Memberlist. The zero value of every field but
// Name is usable; each comment gives the default and the reason for it.
type MemberlistConfig struct {
	// Name is this node's name, unique in the cluster and at most 512 bytes.
	// Required: peers address each other by name, and a frame carries it.
	Name string

	// BindAddr is the host:port memberlist listens on, TCP and UDP.
	// Default "0.0.0.0:7946", memberlist's own port, so firewall rules written
	// for memberlist apply. Port 0 picks a free port (tests); GossipAddr reports
	// it.
	BindAddr string

	// AdvertiseAddr is the host:port other nodes use to reach this one.
	// Default "": the bound address, or a private IP when bound to 0.0.0.0.
	// Set it behind NAT or in containers, where the bound address is not the
	// reachable one.
	AdvertiseAddr string

	// SecretKey enables memberlist's gossip encryption (AES-GCM); it must be
	// 16, 24 or 32 bytes and the same on every node. Default nil: no
	// encryption, for development. Production clusters should set it.
	SecretKey []byte

	// Keys are further keys memberlist accepts on incoming gossip, besides
	// SecretKey, which it encrypts with: the middle of a key rotation
	// (SetKeys). Each 16, 24 or 32 bytes. Default nil. Needs SecretKey.
	Keys [][]byte

	// Label is memberlist's cluster label: traffic with a different label is
	// dropped. Default "": none. Set it so two clusters sharing a network
	// cannot merge by mistake.
	Label string

	// Logger receives transport and memberlist logs. Default slog.Default().
	Logger *slog.Logger

	// Local selects memberlist.DefaultLocalConfig timings (faster probes and
	// gossip, for a loopback network in tests) instead of DefaultLANConfig.
	// Default false: LAN timings, which tolerate real network jitter.
	Local bool

	// Blocked, if set, is asked about every peer gossip address (host:port) on
	// every packet and dial, and true drops the traffic. It lets fault injection
	// cut a peer off at the memberlist level so that memberlist's own failure
	// detector declares it dead and later alive again. It must be fast and safe
	// for concurrent use. Block both sides of a cut: inbound streams cannot be
	// attributed to a peer, so they are only stopped at the dialler. Default
	// nil: nothing is blocked.
	Blocked func(peerAddr string) bool

	// Meta is advertised to every peer as Peer.Meta: at most MaxMetaSize
	// bytes. Default nil.
	Meta []byte

	// QueueLen bounds each peer's outbound queue, in messages. Default 4096:
	// several seconds of deltas for an interactive workload, while a dead or
	// slow link still costs bounded memory; beyond it Send returns ErrQueueFull.
	QueueLen int

	// LeaveTimeout bounds Close's goodbye: flushing queues and waiting for the
	// leave broadcast. Default 5 s, long enough for a LAN round and short
	// enough for a container's shutdown grace period.
	LeaveTimeout time.Duration

	// ReconnectInterval is how often to try to rejoin peers that memberlist
	// declared dead. memberlist never probes a dead node again, so without this
	// two sides of a healed partition would stay apart (hashicorp/serf has the
	// same loop). Default 10 s, or 1 s with Local.
	ReconnectInterval time.Duration

	// tune lets in-package tests shorten memberlist's intervals further.
	tune func(*memberlist.Config)
}

const (
	defaultBindAddr          = "0.0.0.0:7946"
	defaultQueueLen          = 4096
	defaultLeaveTimeout      = 5 * time.Second
	defaultReconnectInterval = 10 * time.Second
	localReconnectInterval   = time.Second
)

// withDefaults fills in defaults and checks every field, reporting the first
// bad one precisely.
func (c MemberlistConfig) withDefaults() (MemberlistConfig, error) {
	switch {
	case c.Name == "":
		return c, errors.New("transport: memberlist config: Name is required")
	case len(c.Name) > maxNameLen:
		return c, fmt.Errorf("transport: memberlist config: Name is %d bytes, limit %d", len(c.Name), maxNameLen)
	case len(c.Meta) > MaxMetaSize:
		return c, fmt.Errorf("transport: memberlist config: Meta is %d bytes, limit %d", len(c.Meta), MaxMetaSize)
	case c.QueueLen < 0:
		return c, fmt.Errorf("transport: memberlist config: QueueLen %d is negative", c.QueueLen)
	case c.LeaveTimeout < 0:
		return c, fmt.Errorf("transport: memberlist config: LeaveTimeout %v is negative", c.LeaveTimeout)
	case c.ReconnectInterval < 0:
		return c, fmt.Errorf("transport: memberlist config: ReconnectInterval %v is negative", c.ReconnectInterval)
	case len(c.Keys) > 0 && len(c.SecretKey) == 0:
		return c, errors.New("transport: memberlist config: Keys needs a SecretKey")
	}
	if c.BindAddr == "" {
		c.BindAddr = defaultBindAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.QueueLen == 0 {
		c.QueueLen = defaultQueueLen
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = defaultLeaveTimeout
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = defaultReconnectInterval
		if c.Local {
			c.ReconnectInterval = localReconnectInterval
		}
	}
	return c, nil
}
