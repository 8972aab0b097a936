package api

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node/store"
)

// wsSeeds are client messages, JSON text and binary, good and bad: the
// seed corpus of FuzzWSMessage (testdata/fuzz/FuzzWSMessage).
func wsSeeds(t testing.TB) (text [][]byte, bin [][]byte) {
	r := uuid.MustParse("8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b")
	d, err := crdt.NewObject().Apply(r, crdt.Timestamp{Wall: 1}, crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 2})
	if err != nil {
		t.Fatal(err)
	}
	dj, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	set, err := crdt.NewObject().Apply(r, crdt.Timestamp{Wall: 2}, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	sj, _ := set.MarshalJSON()
	for _, s := range []string{
		`{"t":"ping","id":1}`,
		`{"t":"ping"}`,
		`{"t":"presence","key":"board/1/c","state":{"name":"ann","cursor":["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",3]}}`,
		`{"t":"presence","id":5,"key":"board/1/c","state":null}`,
		`{"t":"presence","key":"board/1/c","state":"here"}`,
		`{"t":"sub","id":1,"key":"board/1/c"}`,
		`{"t":"sub","id":2,"prefix":"board/"}`,
		`{"t":"sub","id":3,"prefix":"","fresh":true}`,
		`{"t":"sub","id":4,"key":"a","prefix":"b"}`,
		`{"t":"unsub","id":1}`,
		`{"t":"unsub","id":"x"}`,
		`{"t":"delta","id":7,"key":"board/1/c","delta":` + string(dj) + `}`,
		`{"t":"delta","id":8,"key":"board/1/s","delta":` + string(sj) + `}`,
		`{"t":"delta","id":9,"key":5,"delta":{}}`,
		`{"t":"delta","id":10,"key":"k","delta":{"types":"nope"}}`,
		`{"t":"hello","v":1}`,
		`{"t":"frobnicate"}`,
		`{"t":null,"id":null}`,
		`[1,2]`,
		`{"t":"ping"`,
		``,
		// The hostile client's findings (node/client_rule_test.go), one each.
		hostileSeed("counter", `[["counter"],[["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",1,1,0]]]`, `["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",1],["0a000000-0000-4000-8000-000000000002",281474976710655]`),
		hostileSeed("counter", `[["counter"],[["0a000000-0000-4000-8000-000000000002",1,1000,0]]]`, `["0a000000-0000-4000-8000-000000000002",1]`),
		hostileSeed("lww", `[["lww"],[["0a000000-0000-4000-8000-000000000002",1,99999999999999,0,"x"]]]`, `["0a000000-0000-4000-8000-000000000002",1]`),
		hostileSeed("gcounter", `[["gcounter"],[["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",1,0,900]]]`, `["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",1]`),
		hostileSeed("counter", `[["counter"],[["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",1,9007199254740991,0]]]`, `["8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b",1]`),
		`{"t":"ping","ID":1}`,
		`{"t":"ping","id":1,"id":2}`,
		`{"t":"sub","id":null,"key":"a"}`,
		`{"t":"sub","id":1,"key":"\ud800"}`,
		`{"t":"sub","id":7,"key":"doc","resume":{"base":{"8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b":3},"key":"doc","leaf":"CA8jgo642ENPqbffKHl4hPAp","replica":"8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b","seq":257}}`,
		`{"t":"sub","id":8,"prefix":"d","resume":{"base":{},"key":"elsewhere","leaf":"!","replica":"x","seq":-1}}`,
	} {
		text = append(text, []byte(s))
	}
	for i, o := range []*crdt.Object{d, set} {
		raw, err := crdt.Batch{Clock: crdt.Timestamp{Wall: 3}, Items: []crdt.BatchItem{{Key: fmt.Sprint("bin/", i), Delta: o}}}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		bin = append(bin, append(binary.AppendUvarint([]byte{'D'}, uint64(40+i)), raw...))
	}
	bin = append(bin, []byte("D"), []byte{'D', 0x80}, []byte("X1"), nil)
	return text, bin
}

// hostileSeed is a delta message a hostile client could send for key h/T.
func hostileSeed(typ, leaves, vv string) string {
	return fmt.Sprintf(`{"t":"delta","id":99,"key":"h/%s","delta":{"types":[%q],"leaves":[%s],"ctx":{"vv":[%s],"cloud":[]}}}`, typ, typ, leaves, vv)
}

// FuzzWSMessage feeds one client message, a JSON text frame or a binary
// frame, to a session's decoder and handlers on a real node: whatever the
// bytes, nothing panics, every reply is one JSON object, and a message
// either gets its answer or an error.
func FuzzWSMessage(f *testing.F) {
	text, bin := wsSeeds(f)
	for _, s := range text {
		f.Add(false, s)
	}
	for _, s := range bin {
		f.Add(true, s)
	}
	n, h := fuzzWSNode(f)
	f.Fuzz(func(t *testing.T, isBinary bool, data []byte) {
		c := newWSConn(h, nil)
		defer c.cancel()
		c.replica, c.binary = uuid.MustParse("8f7a2c1e-5b3d-4e6f-9a0b-1c2d3e4f5a6b"), true
		if isBinary {
			c.handleBinary(data)
		} else {
			c.handleText(data)
		}
		c.deltas.Wait()
		checkOnlyOwnDots(t, n, c.replica, isBinary, data)
		checkReplies(t, c, data)
		c.mu.Lock()
		for _, s := range c.subs {
			h.hub.remove(s)
		}
		c.mu.Unlock()
	})
}

// fuzzWSNode is a node and its WebSocket handler for a fuzz target, with
// no rate limit.
func fuzzWSNode(f *testing.F) (*Backend, *WSHandler) {
	// Nothing else writes: waiting for unseen dots could not help.
	n := newTestBackend(f, func(cfg *store.Config) { cfg.UnseenDotsWait = 0 })
	h := NewWSHandler(n, WSOptions{Rate: 1e12, Burst: 1 << 30})
	f.Cleanup(func() { h.Close() })
	return n, h
}

// checkReplies takes what c queued: every reply must be one JSON message.
func checkReplies(t *testing.T, c *wsConn, data []byte) {
	for {
		select {
		case m := <-c.send:
			if m.kind == outFrame {
				var v map[string]any
				if err := json.Unmarshal(m.frame, &v); err != nil || v["t"] == nil {
					t.Fatalf("reply %q to %q is not a message: %v", m.frame, data, err)
				}
			}
			continue
		default:
		}
		return
	}
}

// checkOnlyOwnDots runs the client rule's promise on whatever the message
// wrote: the fuzz client is the node's only writer, so no stored entry and
// no stored context may name another replica.
func checkOnlyOwnDots(t *testing.T, n *Backend, client crdt.ReplicaID, isBinary bool, data []byte) {
	var key string
	if isBinary {
		if len(data) > 1 {
			if _, k := binary.Uvarint(data[1:]); k > 0 {
				if b, err := crdt.UnmarshalBatch(data[1+k:]); err == nil && len(b.Items) == 1 {
					key = b.Items[0].Key
				}
			}
		}
	} else {
		var m struct {
			Key string `json:"key"`
		}
		_ = json.Unmarshal(data, &m)
		key = m.Key
	}
	if store.CheckKey(key) != nil {
		return
	}
	o, err := n.Store.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if rs := o.Replicas(); len(rs) > 1 || len(rs) == 1 && rs[0] != client {
		t.Fatalf("%q stored entries or a context of replicas %v; only %s writes here", data, rs, client)
	}
}

// TestWriteWSCorpus regenerates testdata/fuzz/FuzzWSMessage from wsSeeds
// when LATTICE_WRITE_CORPUS=1.
func TestWriteWSCorpus(t *testing.T) {
	if os.Getenv("LATTICE_WRITE_CORPUS") != "1" {
		t.Skip("set LATTICE_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWSMessage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text, bin := wsSeeds(t)
	write := func(name string, isBinary bool, s []byte) {
		body := fmt.Sprintf("go test fuzz v1\nbool(%t)\n[]byte(%s)\n", isBinary, strconv.Quote(string(s)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range text {
		write(fmt.Sprintf("text-%02d", i), false, s)
	}
	for i, s := range bin {
		write(fmt.Sprintf("binary-%02d", i), true, s)
	}
}
