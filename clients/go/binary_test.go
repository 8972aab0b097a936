package lattice

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
)

// TestBinaryClientConverges: a client on the compact binary form and one
// on JSON edit the same keys on two nodes, online (many deltas in flight,
// so several per frame both ways) and offline; the binary client restarts
// and resumes from its cursor (a catch-up in binary frames). Nodes and
// both clients end with identical states.
func TestBinaryClientConverges(t *testing.T) {
	rng := testSeed(t)
	cl := newCluster(t, 2, nil)
	const prefix = "bin/"
	dirA := t.TempDir()
	a := openClient(t, Options{Dir: dirA, URLs: cl.urls(0), Binary: true})
	b := openClient(t, Options{URLs: cl.urls(1)})
	for _, c := range []*Client{a, b} {
		_, err := c.SubscribePrefix(prefix, nil)
		must(t, err)
	}
	var counter int64
	for range 80 {
		counter += randomEdit(t, a, rng, prefix)
		counter += randomEdit(t, b, rng, prefix)
	}
	mustSync(t, a, "a online")
	mustSync(t, b, "b online")
	a.SetOffline(true)
	for i := range 30 {
		counter += randomEdit(t, a, rng, prefix)
		counter += randomEdit(t, b, rng, prefix)
		if i%10 == 0 {
			if _, err := cl.nodes[1].node().Apply(context.Background(), prefix+"counter", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 10}); err != nil {
				t.Fatal(err)
			}
			counter += 10
		}
	}
	must(t, a.Close())
	a = openClient(t, Options{Dir: dirA, URLs: cl.urls(1), Binary: true})
	_, err := a.SubscribePrefix(prefix, nil)
	must(t, err)
	mustSync(t, a, "a back")
	a.mu.Lock()
	st := a.stats
	a.mu.Unlock()
	if st.catchups == 0 {
		t.Errorf("a resumed with %+v: want a catch-up from its cursor", st)
	}
	eventually(t, 20*time.Second, "nodes and clients converge", func() (bool, string) {
		want := canonicalOf(t, cl.nodes[0].node(), prefix)
		for name, v := range map[string]map[string]string{
			"n1": canonicalOf(t, cl.nodes[1].node(), prefix),
			"a":  clientCanonical(a, prefix),
			"b":  clientCanonical(b, prefix),
		} {
			if !sameMaps(want, v) {
				return false, fmt.Sprintf("%s differs from n0:\n%v\n%v", name, v, want)
			}
		}
		return true, ""
	})
	if v, _ := a.Get(prefix + "counter"); v != fmt.Sprint(counter) {
		t.Errorf("counter %s, want %d", v, counter)
	}
}

// TestDeltaFramesBounded: many pending deltas, as after a long time
// offline, go in frames of at most frames.MaxItems, which a node's reader
// takes in order with every id.
func TestDeltaFramesBounded(t *testing.T) {
	cn := &conn{c: &Client{}}
	r := uuid.New()
	var ps []*pendingDelta
	o := crdt.NewObject()
	for i := 0; i < 2*frames.MaxItems+7; i++ {
		d, err := o.Apply(r, crdt.Timestamp{Wall: 1_700_000_000_000 + int64(i)}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 1})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, &pendingDelta{id: uint64(i + 1), key: "c", delta: d})
	}
	fs := cn.deltaFramesLocked(ps)
	if len(fs) != 3 {
		t.Fatalf("%d frames, want 3", len(fs))
	}
	var rd frames.Reader
	next := uint64(1)
	for i, f := range fs {
		first, _, its, err := rd.ReadDeltas(f)
		if err != nil || first != next || len(its) > frames.MaxItems {
			t.Fatalf("frame %d: first %d, %d items, %v", i, first, len(its), err)
		}
		next += uint64(len(its))
	}
	if next != uint64(len(ps))+1 {
		t.Fatalf("frames carried ids up to %d, want %d", next-1, len(ps))
	}
}
