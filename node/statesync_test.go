package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/node/replica"
	"github.com/lattice-sync/lattice/transport"
)

// A node that was away while the others truncated their logs catches up
// from state, then serves others.
func TestStateTransferAfterTruncation(t *testing.T) {
	net := transport.NewMemNetwork()
	a, b := truncatedPair(t, net.Add("a"), nil, 200, func(i int) crdt.Value { return crdt.MustInt(int64(i)) })
	if err := b.Attach(net.Add("b")); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, 10*time.Second, a, b)
	waitFloor(t, b, a.ID())
	o, _ := b.Get("k3")
	if got := len(o.Value().([]any)); got != 50 {
		t.Fatalf("k3 has %d elements, want 50", got)
	}
}

// waitFloor waits until n has adopted a log floor for origin o, which a
// state transfer ends with: the floor is written after the objects, so it
// may lag the digests' agreement a little.
func waitFloor(t *testing.T, n *Node, o crdt.ReplicaID) {
	t.Helper()
	err := testkit.Eventually(30*time.Second, func() error {
		if n.st.Floor(o) == 0 {
			return errors.New("caught up without adopting a floor: state transfer not used")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", n.Name(), err)
	}
}

func waitConverged(t *testing.T, d time.Duration, nodes ...*Node) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ds []string
		same := true
		for _, n := range nodes {
			dg, _, err := n.Digest()
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, dg)
			same = same && dg == ds[0]
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %v: %v", d, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The first byte of replication's state offer and wants messages
// (replica/wire.go).
const (
	msgDigests byte = 'D'
	msgWants   byte = 'W'
)

// dropFirst passes a transport's sends through, except the first message
// of one kind, which it drops: a lost state offer or wants message.
type dropFirst struct {
	transport.Transport
	kind    byte
	dropped atomic.Bool
}

func (d *dropFirst) Send(to string, payload []byte) error {
	if len(payload) > 0 && payload[0] == d.kind && d.dropped.CompareAndSwap(false, true) {
		return nil
	}
	return d.Transport.Send(to, payload)
}

// truncatedPair opens a on transport ta, writes enough to truncate its log
// (a truncates in its anti-entropy rounds, which run once it is attached),
// and opens b, which lacks all of it and is not attached. With a clock,
// both run on it, and it is advanced until a has truncated.
func truncatedPair(t *testing.T, ta transport.Transport, clock *manualClock, writes int, value func(i int) crdt.Value) (a, b *Node) {
	t.Helper()
	open := func(name string) *Node {
		cfg := testConfig(t, name)
		cfg.LogRetention = 5
		if clock != nil {
			cfg.Clock = clock
		}
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a, b = open("a"), open("b")
	if err := a.Attach(ta); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < writes; i++ {
		key := fmt.Sprintf("k%d", i%4)
		if _, err := a.Apply(ctx, key, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: value(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := testkit.Eventually(10*time.Second, func() error {
		if clock != nil {
			clock.Advance(a.cfg.AntiEntropyInterval)
		}
		if a.st.Floor(a.ID()) == 0 {
			return errors.New("log never truncated")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// A state offer or a wants message that is lost does not stall the
// transfer until sessionTimeout (30 s, how long a lost offer used to stall
// it): the offer is made again after two anti-entropy intervals. The nodes
// run on a manual clock, advanced one interval at a time until b has
// caught up, so the test measures the node's own time, not the machine's.
func TestStateTransferRecoversLostOffer(t *testing.T) {
	for _, kind := range []byte{msgDigests, msgWants} {
		t.Run(string(kind), func(t *testing.T) {
			net := transport.NewMemNetwork()
			da := &dropFirst{Transport: net.Add("a"), kind: msgDigests}
			db := &dropFirst{Transport: net.Add("b"), kind: msgWants}
			if kind == msgDigests {
				db.dropped.Store(true)
			} else {
				da.dropped.Store(true)
			}
			clock := newManualClock()
			a, b := truncatedPair(t, da, clock, 60, func(i int) crdt.Value { return crdt.MustInt(int64(i)) })
			if err := b.Attach(db); err != nil {
				t.Fatal(err)
			}
			start := clock.Now()
			err := testkit.Eventually(60*time.Second, func() error {
				clock.Advance(a.cfg.AntiEntropyInterval)
				if b.st.Floor(a.ID()) == 0 {
					return errors.New("b has not adopted a floor")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if took := clock.Now().Sub(start); took >= replica.SessionTimeout {
				t.Fatalf("the transfer took %v of the nodes' time: the lost message stalled it until SessionTimeout", took)
			}
			waitConverged(t, 60*time.Second, a, b)
			if !da.dropped.Load() || !db.dropped.Load() {
				t.Fatal("the message was never sent, so never dropped: the test proved nothing")
			}
			waitFloor(t, b, a.ID())
		})
	}
}

// A network that delivers every message twice does not break a state
// transfer of objects split into several ranges: a duplicate range counts
// once, so every object is whole and the floor is adopted.
func TestStateTransferDuplicatedRanges(t *testing.T) {
	// About 1 MiB per object: each is sent as several ranges.
	pad := strings.Repeat("x", 4000)
	net := transport.NewMemNetwork()
	fa := transport.NewFaulty(net.Add("a"), testkit.Seed(t))
	if err := fa.SetFaults(transport.Faults{Duplicate: 1}); err != nil {
		t.Fatal(err)
	}
	a, b := truncatedPair(t, fa, nil, 1200, func(i int) crdt.Value { return crdt.String(fmt.Sprintf("%05d-%s", i, pad)) })
	if err := b.Attach(net.Add("b")); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, 60*time.Second, a, b)
	waitFloor(t, b, a.ID())
	o, err := b.Get("k1")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(o.Value().([]any)); got != 300 {
		t.Fatalf("k1 has %d elements, want 300", got)
	}
}
