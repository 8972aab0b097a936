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
	"github.com/lattice-sync/lattice/transport"
)

// A node that was away while the others truncated their logs catches up
// from state, then serves others.
func TestStateTransferAfterTruncation(t *testing.T) {
	net := transport.NewMemNetwork()
	a, b := truncatedPair(t, net.Add("a"), 200, func(i int) crdt.Value { return crdt.MustInt(int64(i)) })
	if err := b.Attach(net.Add("b")); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, 10*time.Second, a, b)
	if b.floorOf(a.ID()) == 0 {
		t.Fatal("b caught up without adopting a floor: state transfer not used")
	}
	o, _ := b.Get("k3")
	if got := len(o.Value().([]any)); got != 50 {
		t.Fatalf("k3 has %d elements, want 50", got)
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
// and opens b, which lacks all of it and is not attached.
func truncatedPair(t *testing.T, ta transport.Transport, writes int, value func(i int) crdt.Value) (a, b *Node) {
	t.Helper()
	open := func(name string) *Node {
		cfg := testConfig(t, name)
		cfg.LogRetention = 5
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
		if a.floorOf(a.ID()) == 0 {
			return errors.New("log never truncated")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// A state offer or a wants message that is lost does not stall the
// transfer until sessionTimeout: the offer is made again after two
// anti-entropy intervals. The deadline below is well under sessionTimeout
// (30 s), which is how long a lost offer used to stall the transfer.
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
			a, b := truncatedPair(t, da, 60, func(i int) crdt.Value { return crdt.MustInt(int64(i)) })
			if err := b.Attach(db); err != nil {
				t.Fatal(err)
			}
			waitConverged(t, 15*time.Second, a, b)
			if !da.dropped.Load() || !db.dropped.Load() {
				t.Fatal("the message was never sent, so never dropped: the test proved nothing")
			}
			if b.floorOf(a.ID()) == 0 {
				t.Fatal("b caught up without adopting a floor: state transfer not used")
			}
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
	a, b := truncatedPair(t, fa, 1200, func(i int) crdt.Value { return crdt.String(fmt.Sprintf("%05d-%s", i, pad)) })
	if err := b.Attach(net.Add("b")); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, 60*time.Second, a, b)
	if b.floorOf(a.ID()) == 0 {
		t.Fatal("b caught up without adopting a floor: state transfer not used")
	}
	o, err := b.Get("k1")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(o.Value().([]any)); got != 300 {
		t.Fatalf("k1 has %d elements, want 300", got)
	}
}
