package node

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lattice-sync/lattice/node/api"
)

// presenceView is what a client holds of others' presence on one key,
// built from the frames it reads as docs/protocol.md says.
type presenceView struct {
	key     string
	states  map[string]string // conn -> state, as JSON
	pending map[string]string // a presence_set still arriving
	sets    int               // complete presence_sets read
}

func newPresenceView(key string) *presenceView {
	return &presenceView{key: key, states: map[string]string{}}
}

func (v *presenceView) apply(t *testing.T, m map[string]any) {
	t.Helper()
	enc := func(s any) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	switch m["t"] {
	case "presence":
		if m["key"] != v.key {
			return
		}
		if m["state"] == nil {
			delete(v.states, m["conn"].(string))
		} else {
			v.states[m["conn"].(string)] = enc(m["state"])
		}
	case "presence_set":
		if v.pending == nil {
			v.pending = map[string]string{}
		}
		for _, s := range m["states"].([]any) {
			p := s.(map[string]any)
			if p["key"] == v.key {
				v.pending[p["conn"].(string)] = enc(p["state"])
			}
		}
		if m["done"] == true {
			v.states, v.pending = v.pending, nil
			v.sets++
		}
	}
}

// readUntilPong applies w's frames to v until the pong to id.
func (v *presenceView) readUntilPong(t *testing.T, w *testWS, id int) {
	t.Helper()
	for {
		m := w.nextJSON()
		if m["t"] == "pong" && m["id"] == json.Number(strconv.Itoa(id)) {
			return
		}
		v.apply(t, m)
	}
}

// tableView is what the node holds on key, as a presenceView holds it.
func tableView(t *testing.T, n *Node, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range n.presence.Matching(key, false) {
		var s any
		if err := json.Unmarshal(p.State, &s); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(s)
		out[p.Conn] = string(b)
	}
	return out
}

func (v *presenceView) mustEqual(t *testing.T, n *Node) {
	t.Helper()
	if want := tableView(t, n, v.key); !maps.Equal(v.states, want) {
		t.Fatalf("the client holds %v of %s's presence; the node holds %v", v.states, v.key, want)
	}
}

// subscribedWS is a connection to s subscribed (as 1) to key, its snapshot
// read, holding nobody's presence.
func subscribedWS(t *testing.T, s *wsNode, key string) *testWS {
	t.Helper()
	w := dialWS(t, s.url, true)
	w.hello(nil)
	w.send(map[string]any{"t": "sub", "id": 1, "key": key})
	w.expect("snapshot")
	// The pong comes after the writer read the subscription's presence.
	w.send(map[string]any{"t": "ping", "id": 0})
	w.expect("pong")
	return w
}

// TestPresenceDropRepaired: presence frames that did not fit a slow
// client's queue, the last of them the "gone", are repaired: the writer
// resends the set, and the client ends up holding what the node holds.
func TestPresenceDropRepaired(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{SendQueue: 4, WriteTimeout: time.Minute}, nil)
	w := dialWSWith(t, s.url, false, wsSmallBufferDialer)
	w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()})
	w.send(map[string]any{"t": "sub", "id": 1, "key": "doc"})
	other := Presence{Key: "doc", Conn: "n/other.1", Replica: uuid.NewString()}
	pad := strings.Repeat("x", api.MaxPresenceBytes-64)
	drops := 0
	for i := 0; drops < 100; i++ {
		if i > 200_000 {
			t.Fatal("no presence frame dropped after 200000 states for a client that does not read")
		}
		p := other
		p.State, _ = json.Marshal(map[string]any{"n": i, "pad": pad})
		s.n.presence.Publish(p)
		if metricValue(t, s.n, "lattice_ws_errors_total", "code=presence_dropped") > 0 {
			drops++
		}
	}
	gone := other
	gone.State = json.RawMessage("null")
	s.n.presence.Publish(gone)
	go w.readFrames()
	w.send(map[string]any{"t": "ping", "id": 7})
	v := newPresenceView("doc")
	v.readUntilPong(t, w, 7)
	v.mustEqual(t, s.n)
	if v.sets == 0 {
		t.Fatal("no presence_set after dropped presence")
	}
}

// TestPresenceExpiryInOrder: an expiry and a peer's refresh of the same
// state race; subscribers hear of them in the order the table made them,
// so they end up with the state the node holds.
func TestPresenceExpiryInOrder(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	w := subscribedWS(t, s, "doc")
	raw := []Presence{{Key: "doc", Conn: "peer/b.1", Replica: uuid.NewString(), State: json.RawMessage(`{"name":"bo"}`)}}
	s.n.presence.Receive("peer", raw)
	v := newPresenceView("doc")
	w.send(map[string]any{"t": "ping", "id": 1})
	v.readUntilPong(t, w, 1)
	// The refresh lands between the expiry's change and what follows it.
	var once sync.Once
	hook := func(op string) {
		if op == "tick" {
			once.Do(func() { s.n.presence.Receive("peer", raw) })
		}
	}
	s.n.presence.AfterUnlock.Store(&hook)
	defer s.n.presence.AfterUnlock.Store(nil)
	s.n.presence.Tick(time.Now().Add(api.PresenceTTL + time.Second))
	w.send(map[string]any{"t": "ping", "id": 2})
	v.readUntilPong(t, w, 2)
	if len(tableView(t, s.n, "doc")) != 1 {
		t.Fatal("the refresh did not bring the state back")
	}
	v.mustEqual(t, s.n)
}

// TestPresenceSubscribeInOrder: a state cleared while a new subscription
// reads the states it covers reaches the subscriber after that read, so
// the subscriber does not keep the cleared state.
func TestPresenceSubscribeInOrder(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	other := Presence{Key: "doc", Conn: "n/other.1", Replica: uuid.NewString(), State: json.RawMessage(`{"name":"bo"}`)}
	s.n.presence.Publish(other)
	gone := other
	gone.State = json.RawMessage("null")
	var once sync.Once
	cleared := make(chan struct{})
	hook := func(op string) {
		if op == "presence set" || op == "matching" { // where a new subscription reads the states
			once.Do(func() {
				s.n.presence.Publish(gone)
				close(cleared)
			})
		}
	}
	s.n.presence.AfterUnlock.Store(&hook)
	defer s.n.presence.AfterUnlock.Store(nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	w.send(map[string]any{"t": "sub", "id": 1, "key": "doc"})
	<-cleared
	w.send(map[string]any{"t": "ping", "id": 3})
	v := newPresenceView("doc")
	v.readUntilPong(t, w, 3)
	v.mustEqual(t, s.n)
}

// TestPresenceConfirm: every presenceConfirm each connection is resent
// the states under its subscriptions, which lets its client keep them past
// the ttl every presence message carries; a connection that holds nothing
// is not sent empty sets.
func TestPresenceConfirm(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	holder := subscribedWS(t, s, "doc")
	idle := subscribedWS(t, s, "empty")
	s.n.presence.Publish(Presence{Key: "doc", Conn: "n/other.1", Replica: uuid.NewString(), State: json.RawMessage(`{"name":"bo"}`)})
	m := holder.expect("presence")
	if ttl, _ := m["ttl"].(json.Number).Int64(); ttl != api.PresenceClientTTL.Milliseconds() {
		t.Fatalf("ttl %v, want %d", m["ttl"], api.PresenceClientTTL.Milliseconds())
	}
	s.n.presence.Confirm()
	set := holder.expect("presence_set")
	states := set["states"].([]any)
	if len(states) != 1 || stateName(states[0].(map[string]any)) != "bo" || set["done"] != true {
		t.Fatalf("confirmation %v", set)
	}
	idle.send(map[string]any{"t": "ping", "id": 4})
	if m := idle.nextJSON(); m["t"] != "pong" {
		t.Fatalf("a connection holding no presence got %v", m)
	}
}
