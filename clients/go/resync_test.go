package lattice

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node"
)

// resumeAnswer says how node url answers a subscription to prefix resumed
// from cursor: "catchup" or "snapshot". It speaks the protocol itself, as
// a fresh replica that holds the cursor.
func resumeAnswer(t *testing.T, url, prefix, cursor string) string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer ws.Close()
	hello := fmt.Sprintf(`{"t":"hello","v":1,"replica":%q,"cursor":%s}`, uuid.NewString(), cursor)
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(hello)))
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"t":"sub","id":1,"prefix":%q}`, prefix))))
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		var m struct {
			T string `json:"t"`
		}
		_ = json.Unmarshal(data, &m)
		if m.T == "catchup" || m.T == "snapshot" {
			return m.T
		}
	}
}

// TestLongOfflineResyncsFromState: a client offline for so long that every
// node's log was truncated past its cursor comes back (to another node),
// is answered with a snapshot instead of a catch-up, and loses none of its
// own pending edits.
func TestLongOfflineResyncsFromState(t *testing.T) {
	rng := testSeed(t)
	cl := newCluster(t, 3, nil)
	const prefix = "doc/"
	ctx := context.Background()
	others := int64(0)
	inc := func(i int) {
		t.Helper()
		if _, err := cl.nodes[i%3].node().Apply(ctx, prefix+"counter", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2}); err != nil {
			t.Fatal(err)
		}
		others += 2
	}
	for i := 0; i < 3; i++ {
		inc(i) // so that the client's cursor names every node
	}
	dir := t.TempDir()
	c := openClient(t, Options{Dir: dir, URLs: cl.urls(0)})
	_, err := c.SubscribePrefix(prefix, nil)
	must(t, err)
	must(t, c.Inc(prefix+"counter", "", 1))
	mustSync(t, c, "first sync")
	c.SetOffline(true)
	cursor := c.Cursor()
	t.Logf("cursor when going offline: %s", cursor)

	// Offline edits, some to keys the cluster changes too.
	must(t, c.Inc(prefix+"counter", "", 3))
	must(t, c.Add(prefix+"set", "", JSONString("mine")))
	must(t, c.Set(prefix+"map", "offline/title", JSONString("written offline")))
	must(t, c.Enable(prefix+"flag", ""))
	for i := 0; i < 5; i++ {
		must(t, c.Add(prefix+"set", "", fmt.Sprint(rng.IntN(1000)+1000)))
	}
	want := map[string]string{}
	for _, k := range []string{"set", "map", "flag"} {
		want[prefix+k], _ = c.Get(prefix + k)
	}
	must(t, c.Close())

	// Meanwhile every node takes many writes.
	for i := 0; i < 40; i++ {
		inc(i)
		if _, err := cl.nodes[i%3].node().Apply(ctx, fmt.Sprintf("%sother/%d", prefix, i), crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.MustInt(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	awaitNodesConverged(t, cl, prefix)
	// The nodes come back with a short log retention and truncate their
	// logs far past the client's cursor; then they return to the default,
	// which keeps the floors. (Truncating while peers' entries arrive is
	// avoided here: it races in node/ today, see the report of issue #5.)
	for i := range cl.nodes {
		cl.stop(i)
		cl.nodes[i].cfg.LogRetention = 5
		cl.start(i)
	}
	eventually(t, 20*time.Second, "n1's logs no longer reach back to the cursor", func() (bool, string) {
		a := resumeAnswer(t, cl.nodes[1].url(), prefix, cursor)
		return a == "snapshot", "a resume is answered by " + a
	})
	for i := range cl.nodes {
		cl.stop(i)
		cl.nodes[i].cfg.LogRetention = node.DefaultConfig("", "").LogRetention
		cl.start(i)
	}

	c = openClient(t, Options{Dir: dir, URLs: cl.urls(1), Offline: true})
	if n := c.Pending(); n != 4 {
		t.Fatalf("%d pending edits after the restart, want 4 (one per key)", n)
	}
	_, err = c.SubscribePrefix(prefix, nil)
	must(t, err)
	c.SetOffline(false)
	mustSync(t, c, "back after a long time")
	c.mu.Lock()
	st := c.stats
	c.mu.Unlock()
	if st.snapshots == 0 || st.catchups != 0 {
		t.Fatalf("answered with %+v; want a snapshot, no catch-up", st)
	}
	awaitNodesConverged(t, cl, prefix)
	eventually(t, 20*time.Second, "the client converges with the cluster", func() (bool, string) {
		ref := canonicalOf(t, cl.nodes[0].node(), prefix)
		return sameMaps(ref, clientCanonical(c, prefix)), "the client differs from n0"
	})
	for k, w := range want {
		o, err := cl.nodes[2].node().Get(k)
		must(t, err)
		b, _ := json.Marshal(o.Value())
		if string(b) != w {
			t.Errorf("%s on n2 is %s, want the offline edits' %s", k, b, w)
		}
	}
	if v, _ := c.Get(prefix + "counter"); v != fmt.Sprint(4+others) {
		t.Errorf("counter %s, want %d", v, 4+others)
	}
	var keys []string
	must(t, json.Unmarshal([]byte(c.Keys(prefix+"other/")), &keys))
	if len(keys) != 40 {
		t.Errorf("the snapshot brought %d of 40 keys", len(keys))
	}
}

// awaitNodesConverged waits until every node holds the same objects under
// prefix and the same version vector.
func awaitNodesConverged(t *testing.T, cl *testCluster, prefix string) {
	t.Helper()
	eventually(t, 20*time.Second, "the nodes converge", func() (bool, string) {
		ref := canonicalOf(t, cl.nodes[0].node(), prefix)
		vv := cl.nodes[0].node().VersionVector()
		for i := 1; i < len(cl.nodes); i++ {
			n := cl.nodes[i].node()
			if !sameMaps(ref, canonicalOf(t, n, prefix)) {
				return false, fmt.Sprintf("n%d's objects differ from n0's", i)
			}
			if o := n.VersionVector().Compare(vv); o != crdt.Equal {
				return false, fmt.Sprintf("n%d's version vector is %v, n0's %v", i, n.VersionVector(), vv)
			}
		}
		return true, ""
	})
}
