package node

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// A list over REST: insert a scalar and a map element, move, write a field
// of an element by its index, delete; each answer is the list after it.
func TestHTTPListOps(t *testing.T) {
	f := newHTTPFixture(t, HTTPOptions{})
	for _, c := range []struct{ body, want string }{
		{`{"type":"list","op":"insert","path":["todo"],"index":0,"value":{"title":"milk"}}`, `{"todo":[{"title":"milk"}]}`},
		{`{"type":"list","op":"insert","path":["todo"],"index":1,"value":"call"}`, `{"todo":[{"title":"milk"},"call"]}`},
		{`{"type":"list","op":"move","path":["todo"],"from":0,"to":1}`, `{"todo":["call",{"title":"milk"}]}`},
		{`{"type":"lww","op":"set","path":["todo",1,"title"],"value":"oat milk"}`, `{"todo":["call",{"title":"oat milk"}]}`},
		{`{"type":"list","op":"delete","path":["todo"],"index":0}`, `{"todo":[{"title":"oat milk"}]}`},
	} {
		m := f.want(200, "POST", "/v1/objects/cols", c.body)
		jsonEq(t, m["value"], c.want)
	}
	m := f.want(200, "POST", "/v1/objects/l", `{"type":"list","op":"insert","index":0,"value":1}`)
	jsonEq(t, m, `{"key":"l","type":"list","value":[1]}`)
	jsonEq(t, f.want(200, "GET", "/v1/objects/l", "")["value"], `[1]`)
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"insert past the end", `{"type":"list","op":"insert","index":2,"value":1}`, 400, "out_of_range"},
		{"delete past the end", `{"type":"list","op":"delete","index":0,"count":2}`, 400, "out_of_range"},
		{"move from past the end", `{"type":"list","op":"move","from":1,"to":0}`, 400, "out_of_range"},
		{"index in a path past the end", `{"type":"lww","op":"set","path":[3,"t"],"value":1}`, 400, "out_of_range"},
		{"field of a scalar element", `{"type":"lww","op":"set","path":[0,"t"],"value":1}`, 409, "wrong_type"},
		{"an op lists lack", `{"type":"list","op":"add","index":0,"value":1}`, 400, "invalid_op"},
		{"unknown op", `{"type":"list","op":"shuffle"}`, 400, "unknown_op"},
		{"move with an index", `{"type":"list","op":"move","index":0,"from":0,"to":0}`, 400, "unknown_field"},
		{"from on an insert", `{"type":"list","op":"insert","index":0,"from":0,"value":1}`, 400, "unknown_field"},
		{"move without to", `{"type":"list","op":"move","from":0}`, 400, "invalid_value"},
		{"nested object value", `{"type":"list","op":"insert","index":0,"value":{"a":{"b":1}}}`, 400, "invalid_value"},
		{"negative index", `{"type":"list","op":"insert","index":-1,"value":1}`, 400, "invalid_value"},
		{"two indexes in a path", `{"type":"lww","op":"set","path":[0,0,"t"],"value":1}`, 400, "invalid_value"},
		{"list op on a text", `{"type":"text","op":"insert","index":0,"value":"x"}`, 409, "wrong_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			before := f.digest()
			got, m, _ := f.do("POST", "/v1/objects/l", c.body)
			if got != c.status || errCode(m) != c.code {
				t.Fatalf("%s: %d %v, want %d %s", c.body, got, m, c.status, c.code)
			}
			if f.digest() != before {
				t.Fatal("a refused op changed the state")
			}
		})
	}
}

// A list over the WebSocket: a client's own list deltas are acked and
// stored; a delta putting an element at another replica's position is
// refused with forged_dot.
func TestWSListDeltas(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	local := crdt.NewObject()
	now := time.Now().UnixMilli()
	for i, op := range []crdt.Op{
		{Type: crdt.TypeList, Kind: crdt.OpInsert, Value: crdt.String("a")},
		{Type: crdt.TypeList, Kind: crdt.OpInsert, Index: 1, Map: map[string]crdt.Value{"t": crdt.String("b")}},
		{Type: crdt.TypeList, Kind: crdt.OpMove, Index: 0, To: 1},
		{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"t"}, Item: &crdt.ItemRef{Index: 0}, Value: crdt.String("B")},
	} {
		d := clientDelta(t, local, w.replica, now, op)
		local.Join(d)
		w.send(map[string]any{"t": "delta", "id": i, "key": "l", "delta": wsDeltaJSON(t, d)})
		w.expect("ack")
	}
	o, err := s.n.Get("l")
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, o.Value(), `[{"t":"B"},"a"]`)
	if !o.Equal(local) {
		t.Fatal("the node's list differs from the client's")
	}
	// Another replica's element, moved by this client to a position it did
	// not mint.
	forged := `{"types":["list"],"leaves":[[["list",["` + w.replica.String() + `",9,"lww"]],[["` + w.replica.String() + `",10,1,0,["00000000-0000-4000-8000-00000000000a",1],null]]]],"ctx":{"vv":[],"cloud":[]}}`
	w.send(map[string]any{"t": "delta", "id": 99, "key": "l", "delta": json.RawMessage(forged)})
	w.expectError(protocol.ForgedDot, float64(99))
}
