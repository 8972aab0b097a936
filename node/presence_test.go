package node

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/api"
	"github.com/lattice-sync/lattice/transport"
)

// nextPresence reads w's frames until a presence state for key that
// satisfies ok, in a presence message or a presence_set, and returns it.
func nextPresence(t *testing.T, w *testWS, key string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	for {
		m := w.nextJSON()
		switch m["t"] {
		case "presence":
			if m["key"] == key && ok(m) {
				return m
			}
		case "presence_set":
			for _, s := range m["states"].([]any) {
				if p := s.(map[string]any); p["key"] == key && ok(p) {
					return p
				}
			}
		}
	}
}

func stateName(m map[string]any) string {
	s, _ := m["state"].(map[string]any)
	n, _ := s["name"].(string)
	return n
}

// dbContains reports whether any key or value in n's Badger holds marker.
func dbContains(t *testing.T, n *Node, marker []byte) bool {
	t.Helper()
	found := false
	err := n.st.ViewRaw(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid() && !found; it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			found = bytes.Contains(it.Item().Key(), marker) || bytes.Contains(v, marker)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPresenceThreeNodes: a cursor published on one node reaches the
// subscribers on all three, a late subscriber gets it with its
// subscription, it vanishes everywhere when its connection closes, and it
// never reaches the digest or the disk.
func TestPresenceThreeNodes(t *testing.T) {
	mem := transport.NewMemNetwork()
	nodes := []*wsNode{
		startWSNode(t, testConfig(t, "a"), WSOptions{}, mem),
		startWSNode(t, testConfig(t, "b"), WSOptions{}, mem),
		startWSNode(t, testConfig(t, "c"), WSOptions{}, mem),
	}
	var digests []string
	for _, s := range nodes {
		d, _, err := s.n.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	var subs []*testWS
	for _, s := range nodes {
		w := dialWS(t, s.url, true)
		w.hello(nil)
		w.send(map[string]any{"t": "sub", "id": 1, "prefix": "card/"})
		w.expect("snapshot")
		subs = append(subs, w)
	}
	pub := dialWS(t, nodes[0].url, true)
	pub.hello(nil)
	const marker = "ann-presence-marker"
	start := time.Now()
	pub.send(map[string]any{"t": "presence", "key": "card/1", "state": map[string]any{"name": marker, "cursor": map[string]any{"anchor": 3, "head": 5}}})
	var conn any
	for i, w := range subs {
		m := nextPresence(t, w, "card/1", func(m map[string]any) bool { return stateName(m) == marker })
		t.Logf("subscriber on %s saw the cursor %v after publishing", nodes[i].n.Name(), time.Since(start))
		if m["replica"] != pub.replica.String() || !strings.HasPrefix(m["conn"].(string), "a/") {
			t.Fatalf("presence %v does not name its replica and connection", m)
		}
		conn = m["conn"]
	}
	late := dialWS(t, nodes[2].url, true)
	late.hello(nil)
	late.send(map[string]any{"t": "sub", "id": 7, "key": "card/1"})
	nextPresence(t, late, "card/1", func(m map[string]any) bool { return stateName(m) == marker })

	for i, s := range nodes {
		if d, _, _ := s.n.Digest(); d != digests[i] {
			t.Fatalf("presence changed %s's digest", s.n.Name())
		}
		if dbContains(t, s.n, []byte(marker)) {
			t.Fatalf("presence reached %s's disk", s.n.Name())
		}
	}

	start = time.Now()
	pub.c.Close()
	for i, w := range append(subs, late) {
		nextPresence(t, w, "card/1", func(m map[string]any) bool { return m["conn"] == conn && m["state"] == nil })
		if i < len(nodes) {
			t.Logf("subscriber on %s saw the cursor vanish %v after the close", nodes[i].n.Name(), time.Since(start))
		}
	}
	for _, s := range nodes {
		if ps := s.n.presence.Matching("card/", true); len(ps) != 0 {
			t.Fatalf("%s still holds %v", s.n.Name(), ps)
		}
	}
}

// TestPresenceExpiresWithoutRefresh: a peer's states that stop being
// refreshed (the peer died or was cut off) are forgotten after api.PresenceTTL,
// and the subscribers are told.
func TestPresenceExpiresWithoutRefresh(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	w.send(map[string]any{"t": "sub", "id": 1, "prefix": ""})
	w.expect("snapshot")
	s.n.presence.Receive("peer", []Presence{{Key: "doc", Conn: "peer/1", Replica: uuid.NewString(), State: json.RawMessage(`{"name":"bo"}`)}})
	nextPresence(t, w, "doc", func(m map[string]any) bool { return stateName(m) == "bo" })
	// A peer may not speak for another node's connections.
	s.n.presence.Receive("peer", []Presence{{Key: "doc", Conn: "other/1", Replica: uuid.NewString(), State: json.RawMessage(`{"name":"x"}`)}})
	s.n.presence.Tick(time.Now())
	if ps := s.n.presence.Matching("doc", false); len(ps) != 1 || ps[0].Conn != "peer/1" {
		t.Fatalf("before the TTL: %v", ps)
	}
	s.n.presence.Tick(time.Now().Add(api.PresenceTTL + time.Second))
	nextPresence(t, w, "doc", func(m map[string]any) bool { return m["conn"] == "peer/1" && m["state"] == nil })
	if ps := s.n.presence.Matching("doc", false); len(ps) != 0 {
		t.Fatalf("after the TTL: %v", ps)
	}
}

// TestPresenceRefusals: every bad presence message gets its error, and
// changes nothing others see.
func TestPresenceRefusals(t *testing.T) {
	a := newTestAuth(t)
	s := startWSNode(t, testConfig(t, "n"), WSOptions{Auth: a.auth}, nil)
	w := dialWS(t, s.url, true)
	w.hello(map[string]any{"token": a.token(w.replica, []string{"doc/"}, []string{"doc/"}, false, time.Hour)})
	big := map[string]any{"name": strings.Repeat("x", api.MaxPresenceBytes)}
	cases := []struct {
		msg  map[string]any
		code string
	}{
		{map[string]any{"t": "presence", "id": 1, "state": map[string]any{}}, protocol.BadMessage},
		{map[string]any{"t": "presence", "id": 2, "key": "doc/1"}, protocol.BadMessage},
		{map[string]any{"t": "presence", "id": 3, "key": "doc/1", "state": "here"}, protocol.BadMessage},
		{map[string]any{"t": "presence", "id": 4, "key": "", "state": map[string]any{}}, protocol.InvalidKey},
		{map[string]any{"t": "presence", "id": 5, "key": "secret/1", "state": map[string]any{}}, protocol.Forbidden},
		{map[string]any{"t": "presence", "id": 6, "key": "doc/1", "state": big}, protocol.PresenceLimit},
	}
	for _, c := range cases {
		w.send(c.msg)
		w.expectError(c.code, c.msg["id"])
	}
	for i := 0; i < api.MaxPresenceKeys; i++ {
		w.send(map[string]any{"t": "presence", "key": "doc/" + string(rune('a'+i)), "state": map[string]any{"n": i}})
	}
	w.send(map[string]any{"t": "presence", "id": 9, "key": "doc/z", "state": map[string]any{}})
	w.expectError(protocol.PresenceLimit, 9)
	// Clearing one makes room again; a state on a key it has is no new key.
	w.send(map[string]any{"t": "presence", "key": "doc/a", "state": nil})
	w.send(map[string]any{"t": "presence", "key": "doc/b", "state": map[string]any{"n": 99}})
	w.send(map[string]any{"t": "presence", "id": 10, "key": "doc/z", "state": map[string]any{}})
	w.send(map[string]any{"t": "ping", "id": 11})
	if m := w.expect("pong"); m["id"] != json.Number("11") {
		t.Fatalf("pong %v", m)
	}
	conn := s.n.presence.Matching("doc/z", false)
	if len(conn) != 1 || s.n.presence.LocalCount(conn[0].Conn) != api.MaxPresenceKeys {
		t.Fatalf("presence after the refusals: %v", s.n.presence.Matching("doc/", true))
	}
}
