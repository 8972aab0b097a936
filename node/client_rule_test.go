package node

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node/api"
	"github.com/lattice-sync/lattice/transport"
)

// The regressions of the client rule (crdt.ClientRule, docs/protocol.md
// "What a client may send"), one per finding of the hostile-client review,
// over the real WebSocket and REST paths. The rule's property test is
// crdt's TestClientRuleKeepsHonestWrites.

// rawDelta is a hand-written JSON delta: what a hostile client can send.
func rawDelta(typ, leaves, vv, cloud string) string {
	return fmt.Sprintf(`{"types":[%q],"leaves":[%s],"ctx":{"vv":[%s],"cloud":[%s]}}`, typ, leaves, vv, cloud)
}

func sendRaw(t *testing.T, w *testWS, id int, key, delta string) {
	t.Helper()
	msg := fmt.Sprintf(`{"t":"delta","id":%d,"key":%q,"delta":%s}`, id, key, delta)
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func ruleConfig(t *testing.T, name string) Config {
	cfg := testConfig(t, name)
	cfg.UnseenDotsWait = 100 * time.Millisecond
	return cfg
}

// Finding 1: a context that claims the future is refused, retryably, and
// the victim's real writes under those dots still count.
func TestRuleFutureContextRefused(t *testing.T) {
	s := startWSNode(t, ruleConfig(t, "n"), WSOptions{}, nil)
	victim := dialWS(t, s.url, true)
	victim.hello(nil)
	attacker := dialWS(t, s.url, true)
	attacker.hello(nil)
	v, a := victim.replica.String(), attacker.replica.String()
	own := fmt.Sprintf(`[["counter"],[[%q,1,1,0]]]`, a)
	for i, c := range []struct{ vv, cloud string }{
		{fmt.Sprintf(`[%q,1],[%q,2]`, a, v), ""},                   // the victim's next two writes
		{fmt.Sprintf(`[%q,1],[%q,%d]`, a, v, crdt.MaxSeq), ""},     // all of them
		{fmt.Sprintf(`[%q,1]`, a), fmt.Sprintf(`[%q,3]`, v)},       // one, out of order
		{fmt.Sprintf(`[%q,1],[%q,5]`, a, uuid.New().String()), ""}, // a replica nobody has heard of
		{fmt.Sprintf(`[%q,1],[%q,5]`, a, s.n.ID().String()), ""},   // the node's own future
	} {
		sendRaw(t, attacker, i+1, "c", rawDelta("counter", own, c.vv, c.cloud))
		attacker.expectError(protocol.UnseenDots, i+1)
	}
	local := crdt.NewObject()
	for i := 1; i <= 3; i++ {
		d := clientDelta(t, local, victim.replica, time.Now().UnixMilli(), wsInc)
		local.Join(d)
		victim.send(map[string]any{"t": "delta", "id": i, "key": "c", "delta": wsDeltaJSON(t, d)})
		victim.expect("ack")
	}
	if got := wsCounter(t, s.n, "c"); got != 3 {
		t.Fatalf("the victim's three increments count %d", got)
	}
	o, _ := s.n.Get("c")
	if ctx := o.Context(); ctx.Max(victim.replica) != 3 {
		t.Fatalf("the stored context claims the victim up to %d", ctx.Max(victim.replica))
	}
}

// Finding 2: another replica's seen entry cannot be rewritten: not a
// counter's total, not an LWW value with a timestamp years ahead.
func TestRuleRewriteRefused(t *testing.T) {
	s := startWSNode(t, ruleConfig(t, "n"), WSOptions{}, nil)
	victim := dialWS(t, s.url, true)
	victim.hello(nil)
	attacker := dialWS(t, s.url, true)
	attacker.hello(map[string]any{"encoding": "binary"})
	now := time.Now().UnixMilli()
	inc := clientDelta(t, crdt.NewObject(), victim.replica, now, wsInc)
	victim.send(map[string]any{"t": "delta", "id": 1, "key": "c", "delta": wsDeltaJSON(t, inc)})
	victim.expect("ack")
	set := clientDelta(t, crdt.NewObject(), victim.replica, now, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String("mine")})
	victim.send(map[string]any{"t": "delta", "id": 2, "key": "r", "delta": wsDeltaJSON(t, set)})
	victim.expect("ack")
	canon := func() string {
		c, _ := s.n.Get("c")
		r, _ := s.n.Get("r")
		return wsCanon(t, c) + wsCanon(t, r)
	}
	before := canon()
	v := victim.replica.String()
	tenYears := now + 10*365*24*3600*1000
	cases := []struct{ key, typ, leaves string }{
		{"c", "counter", fmt.Sprintf(`[["counter"],[[%q,1,1000,0]]]`, v)},
		{"r", "lww", fmt.Sprintf(`[["lww"],[[%q,1,%d,0,"theirs"]]]`, v, tenYears)},
		{"r", "lww", fmt.Sprintf(`[["lww"],[[%q,1,%d,0,"theirs"]]]`, v, now)},
	}
	for i, c := range cases {
		// Over JSON, then the same delta in the binary form.
		sendRaw(t, attacker, 10+i, c.key, rawDelta(c.typ, c.leaves, fmt.Sprintf(`[%q,1]`, v), ""))
		attacker.expectError(protocol.ForgedDot, 10+i)
		d, err := crdt.UnmarshalObjectJSON([]byte(rawDelta(c.typ, c.leaves, fmt.Sprintf(`[%q,1]`, v), "")))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := crdt.Batch{Items: []crdt.BatchItem{{Key: c.key, Delta: d}}}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := attacker.c.WriteMessage(websocket.BinaryMessage, append(binary.AppendUvarint([]byte{'D'}, uint64(20+i)), raw...)); err != nil {
			t.Fatal(err)
		}
		attacker.expectError(protocol.ForgedDot, 20+i)
	}
	// The attacker's own dot, resent with another payload, is refused too.
	a := attacker.replica.String()
	own := fmt.Sprintf(`[["counter"],[[%q,1,1,0]]]`, a)
	sendRaw(t, attacker, 30, "c2", rawDelta("counter", own, fmt.Sprintf(`[%q,1]`, a), ""))
	attacker.expect("ack")
	sendRaw(t, attacker, 31, "c2", rawDelta("counter", fmt.Sprintf(`[["counter"],[[%q,1,50,0]]]`, a), fmt.Sprintf(`[%q,1]`, a), ""))
	attacker.expectError(protocol.ForgedDot, 31)
	if after := canon(); after != before {
		t.Fatal("a refused rewrite changed the stored state")
	}
	if got := wsCounter(t, s.n, "c"); got != 1 {
		t.Fatalf("counter %d after refused rewrites, want 1", got)
	}
}

// Finding 3: type invariants on client input, and counter sums that cannot
// wrap, over WebSocket and REST.
func TestRuleCounterInvariants(t *testing.T) {
	s := startWSNode(t, ruleConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	r := w.replica.String()
	sendRaw(t, w, 1, "g", rawDelta("gcounter", fmt.Sprintf(`[["gcounter"],[[%q,1,0,900]]]`, r), fmt.Sprintf(`[%q,1]`, r), ""))
	w.expectError(protocol.InvalidDelta, 1)
	sendRaw(t, w, 2, "p", rawDelta("counter", fmt.Sprintf(`[["counter"],[[%q,1,10,5]]]`, r), fmt.Sprintf(`[%q,1]`, r), ""))
	w.expect("ack")
	// A later entry that takes back decrements, or increments.
	sendRaw(t, w, 3, "p", rawDelta("counter", fmt.Sprintf(`[["counter"],[[%q,2,10,1]]]`, r), fmt.Sprintf(`[%q,2]`, r), ""))
	w.expectError(protocol.InvalidDelta, 3)
	sendRaw(t, w, 4, "p", rawDelta("counter", fmt.Sprintf(`[["counter"],[[%q,2,3,5]]]`, r), fmt.Sprintf(`[%q,2]`, r), ""))
	w.expectError(protocol.InvalidDelta, 4)
	// Two writers each within the per-entry bound: the second may not
	// make the sum pass 2^53-1.
	big := uint64(crdt.MaxSafeInt - 10)
	sendRaw(t, w, 5, "sum", rawDelta("counter", fmt.Sprintf(`[["counter"],[[%q,1,%d,0]]]`, r, big), fmt.Sprintf(`[%q,1]`, r), ""))
	w.expect("ack")
	other := dialWS(t, s.url, true)
	other.hello(nil)
	o := other.replica.String()
	sendRaw(t, other, 6, "sum", rawDelta("counter", fmt.Sprintf(`[["counter"],[[%q,1,%d,0]]]`, o, big), fmt.Sprintf(`[%q,1]`, o), ""))
	other.expectError(protocol.OutOfRange, 6)
	if got := wsCounter(t, s.n, "sum"); got != int64(big) {
		t.Fatalf("sum counter %d, want %d", got, big)
	}
	if got := wsCounter(t, s.n, "g"); got != 0 {
		t.Fatalf("gcounter reads %d after a refused decrement", got)
	}
	// REST: the node's own increments meet the same bound.
	h := newHTTPFixture(t, HTTPOptions{})
	h.want(http.StatusOK, "POST", "/v1/objects/k", fmt.Sprintf(`{"type":"counter","op":"inc","by":%d}`, big))
	code, m, _ := h.do("POST", "/v1/objects/k", `{"type":"counter","op":"inc","by":11}`)
	if code != http.StatusBadRequest || errCode(m) != protocol.OutOfRange {
		t.Fatalf("inc past 2^53-1: %d %v", code, m)
	}
}

// Finding 4: strict JSON over REST, and over WebSocket.
func TestRuleStrictJSON(t *testing.T) {
	h := newHTTPFixture(t, HTTPOptions{})
	h.want(http.StatusOK, "POST", "/v1/objects/c", `{"type":"counter","op":"inc","by":1}`)
	before := h.digest()
	for _, c := range []struct{ body, code string }{
		{`{"type":"counter","op":"inc","BY":5}`, protocol.UnknownField},
		{`{"type":"counter","op":"inc","by":5,"bY":7}`, protocol.UnknownField},
		{`{"Type":"counter","op":"inc"}`, protocol.UnknownField},
		{`{"type":"counter","op":"inc","by":5,"by":7}`, protocol.DuplicateField},
		{`{"type":"counter","op":"inc","by":null}`, protocol.InvalidValue},
		{`{"type":"counter","op":"inc","by":"abc"}`, protocol.InvalidValue},
		{`{"type":"lww","op":"set","path":null,"value":1}`, protocol.InvalidValue},
		{`{"type":"set","op":"add","value":"\ud800"}`, protocol.InvalidValue},
		{`{"type":"set","op":"add","value":"a\udc00b"}`, protocol.InvalidValue},
		{"{\"type\":\"set\",\"op\":\"add\",\"value\":\"\xff\"}", protocol.InvalidValue},
		{`{"type":"set","op":"add","value":{"a":1}}`, protocol.InvalidValue},
	} {
		code, m, _ := h.do("POST", "/v1/objects/c", c.body)
		if code != http.StatusBadRequest || errCode(m) != c.code {
			t.Errorf("%s: %d %v, want 400 %s", c.body, code, m, c.code)
		}
		msg, _ := m["error"].(map[string]any)["message"].(string)
		for _, leak := range []string{"Go struct", "opJSON", "interface {}", "json: ", "crdt:"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: the message %q speaks of Go internals", c.body, msg)
			}
		}
	}
	// A surrogate pair is a character, and is stored as one.
	h.want(http.StatusOK, "POST", "/v1/objects/s", `{"type":"set","op":"add","value":"\ud83d\ude00"}`)
	if after := h.digest(); after == before {
		t.Fatal("the valid write did not land")
	}
	s := startWSNode(t, ruleConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	for _, c := range []struct{ msg, code string }{
		{`{"t":"ping","id":1,"id":2}`, protocol.BadJSON},
		{`{"t":"ping","ID":1}`, protocol.BadMessage},
		{`{"t":"sub","id":1,"key":"\ud800"}`, protocol.BadJSON},
		{`{"t":"sub","id":null,"key":"a"}`, protocol.BadMessage},
		{`{"t":"delta","id":1,"key":"k","delta":{"types":["counter"],"types":["set"],"leaves":[],"ctx":{"vv":[],"cloud":[]}}}`, protocol.BadJSON},
	} {
		if err := w.c.WriteMessage(websocket.TextMessage, []byte(c.msg)); err != nil {
			t.Fatal(err)
		}
		w.expectError(c.code, nil)
	}
}

// Finding 4: a declared body over the limit is refused at once, without
// the node reading any of it, and the server has read timeouts.
func TestRuleDeclaredBodyTooLarge(t *testing.T) {
	h := newHTTPFixture(t, HTTPOptions{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/objects/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 100<<20)
	// No body follows: a node that waited for it would never answer.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a 100 MiB declaration: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("status %d, close %v; want 413 and the connection closed", resp.StatusCode, resp.Close)
	}
	srv := NewHTTPServer(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("server timeouts %v %v %v %v: every one must be set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// A client that read from a node ahead of the one it writes to is not a
// forger: its delta waits for replication and is acknowledged once the
// nodes converge. Node b is held back from a by a cut; the client reads a
// value on a and removes it through b.
func TestRuleClientAheadOfNodeWaits(t *testing.T) {
	t.Log("seed: none; the test draws nothing at random")
	mem := transport.NewMemNetwork()
	cfgA, cfgB := testConfig(t, "a"), testConfig(t, "b")
	cfgB.UnseenDotsWait = time.Minute // long enough for any loaded machine
	a := startWSNode(t, cfgA, WSOptions{}, mem)
	b := startWSNode(t, cfgB, WSOptions{}, mem)
	mem.Partition([]string{"a"}, []string{"b"})
	ctx := t.Context()
	add := crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")}
	if _, err := a.n.Apply(ctx, "s", add); err != nil {
		t.Fatal(err)
	}
	seen, err := a.n.Get("s")
	if err != nil {
		t.Fatal(err)
	}
	w := dialWS(t, b.url, true)
	w.hello(nil)
	rm := clientDelta(t, seen, w.replica, time.Now().UnixMilli(), crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("x")})
	w.send(map[string]any{"t": "delta", "id": 1, "key": "s", "delta": wsDeltaJSON(t, rm)})
	// The delta is waiting at b; heal, and it is acknowledged.
	for deadline := time.Now().Add(time.Minute); b.n.st.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the delta never waited at b")
		}
	}
	mem.Heal()
	w.expect("ack")
	wsWaitConverged(t, a.n, b.n)
	for _, n := range []*Node{a.n, b.n} {
		o, _ := n.Get("s")
		if v := o.Value().([]any); len(v) != 0 {
			t.Fatalf("%s holds %v after the remove", n.Name(), v)
		}
	}
}

// One connection cannot take every waiting slot: past its share, its
// deltas over unseen dots are refused at once, and another connection's
// delta still waits for its dots and is acknowledged when they come.
func TestRuleWaitingShare(t *testing.T) {
	t.Log("seed: none; the test draws nothing at random")
	mem := transport.NewMemNetwork()
	cfgB := testConfig(t, "b")
	cfgB.UnseenDotsWait = time.Minute
	a := startWSNode(t, testConfig(t, "a"), WSOptions{}, mem)
	b := startWSNode(t, cfgB, WSOptions{}, mem)
	mem.Partition([]string{"a"}, []string{"b"})
	attacker := dialWS(t, b.url, true)
	attacker.hello(nil)
	ar, victim := attacker.replica.String(), uuid.New().String()
	own := fmt.Sprintf(`[["counter"],[[%q,1,1,0]]]`, ar)
	const sent = 3 * api.WSWaitShare
	for i := 1; i <= sent; i++ {
		sendRaw(t, attacker, i, "c", rawDelta("counter", own, fmt.Sprintf(`[%q,1],[%q,%d]`, ar, victim, i), ""))
	}
	// Everything past the share is refused without waiting.
	for i := 0; i < sent-api.WSWaitShare; i++ {
		attacker.expectError(protocol.UnseenDots, nil)
	}
	if w := b.n.st.Waiting(); w > api.WSWaitShare {
		t.Fatalf("%d deltas wait, more than one connection's share %d", w, api.WSWaitShare)
	}
	// A client that read ahead on a still gets a slot, and its ack.
	ctx := t.Context()
	if _, err := a.n.Apply(ctx, "s", crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")}); err != nil {
		t.Fatal(err)
	}
	seen, _ := a.n.Get("s")
	w := dialWS(t, b.url, true)
	w.hello(nil)
	rm := clientDelta(t, seen, w.replica, time.Now().UnixMilli(), crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("x")})
	w.send(map[string]any{"t": "delta", "id": 1, "key": "s", "delta": wsDeltaJSON(t, rm)})
	for deadline := time.Now().Add(time.Minute); b.n.st.Waiting() <= api.WSWaitShare; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the honest delta never waited")
		}
	}
	mem.Heal()
	w.expect("ack")
}

// The presence message is read as strictly as every other client message.
func TestRuleStrictPresence(t *testing.T) {
	s := startWSNode(t, ruleConfig(t, "n"), WSOptions{}, nil)
	w := dialWS(t, s.url, true)
	w.hello(nil)
	for _, msg := range []string{
		`{"t":"presence","KEY":"k","state":{}}`,
		`{"t":"presence","key":"k","state":{},"bogus":true}`,
		`{"t":"presence","key":null,"state":{}}`,
	} {
		if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		w.expectError(protocol.BadMessage, nil)
	}
}

// A delta waiting for another client's write is woken when that write
// arrives from the other client itself (it failed over here), not only
// when a peer brings it.
func TestRuleWaitingWokenByClientDelta(t *testing.T) {
	cfg := testConfig(t, "n")
	cfg.UnseenDotsWait = time.Minute // the test fails by timing out, not by a refusal
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, b := uuid.New(), uuid.New()
	now := time.Now().UnixMilli()
	add := clientDelta(t, crdt.NewObject(), b, now, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
	seen := crdt.NewObject()
	seen.Join(add) // a read b's add on a node that has since failed
	rm := clientDelta(t, seen, a, now, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpRemove, Value: crdt.String("x")})
	done := make(chan error, 1)
	go func() { done <- n.JoinClient(t.Context(), a, "s", rm) }()
	for deadline := time.Now().Add(time.Minute); n.st.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the remove never waited")
		}
	}
	if err := n.JoinClient(t.Context(), b, "s", add); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting remove: %v", err)
	}
	o, _ := n.Get("s")
	if v := o.Value().([]any); len(v) != 0 {
		t.Fatalf("set %v after the remove", v)
	}
}
