// Untrusted WebSocket input: malformed, oversized and hostile messages get
// an error or a close, and never change what other clients see.

package node

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/protocol"
)

// TestWSBadInput sends each kind of bad input while a second client
// watches a key a third party keeps writing: the bad client gets its
// documented error or close code, the stored state does not change, and
// the watcher misses nothing.
func TestWSBadInput(t *testing.T) {
	ctx := context.Background()
	other := uuid.New()
	now := time.Now().UnixMilli()
	cases := []struct {
		name string
		opts WSOptions
		run  func(t *testing.T, s *wsNode)
	}{
		{"oversized frame", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			big := `{"t":"ping","pad":"` + strings.Repeat("x", 2<<20) + `"}`
			_ = w.c.WriteMessage(websocket.TextMessage, []byte(big))
			if code := w.closeCode(); code != websocket.CloseMessageTooBig {
				t.Fatalf("close %d (%v), want 1009", code, w.err)
			}
		}},
		{"malformed JSON", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			for _, bad := range []string{`{"t":"ping"`, `[1,2]`, `"hello"`, ``, `{"t":"ping"} {}`} {
				if err := w.c.WriteMessage(websocket.TextMessage, []byte(bad)); err != nil {
					t.Fatal(err)
				}
				w.expectError(protocol.BadJSON, nil)
			}
			w.send(map[string]any{"t": "sub", "id": 1, "key": "a", "prefix": "b"})
			w.expectError(protocol.BadMessage, 1)
			w.send(map[string]any{"t": "delta", "id": 2, "key": 5, "delta": map[string]any{}})
			w.expectError(protocol.BadMessage, 2)
			w.send(map[string]any{"t": "delta", "id": 3, "key": "k", "delta": map[string]any{"types": "nope"}})
			w.expectError(protocol.InvalidDelta, 3)
			w.send(map[string]any{"t": "sub", "id": 4, "key": ""})
			w.expectError(protocol.InvalidKey, 4)
			w.send(map[string]any{"t": "ping", "id": 5})
			w.expect("pong")
		}},
		{"unknown type", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			w.send(map[string]any{"t": "frobnicate", "id": 8})
			w.expectError(protocol.UnknownType, 8)
			w.send(map[string]any{"t": "ping"})
			w.expect("pong")
		}},
		{"unknown protocol version", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.send(map[string]any{"t": "hello", "v": 2, "replica": w.replica.String()})
			if code := w.closeCode(); code != protocol.CloseUnsupportedVersion {
				t.Fatalf("close %d (%v), want 4001", code, w.err)
			}
		}},
		{"no hello first", WSOptions{}, func(t *testing.T, s *wsNode) {
			for _, first := range []any{
				map[string]any{"t": "sub", "id": 1, "key": "k"},
				map[string]any{"t": "hello", "v": 1, "replica": "NOT-A-UUID"},
				map[string]any{"t": "hello", "v": 1, "replica": strings.ToUpper(uuid.NewString())},
				// a fold replica's id (version 5): only nodes mint its dots
				map[string]any{"t": "hello", "v": 1, "replica": crdt.FoldReplica(s.n.ID()).String()},
			} {
				w := dialWS(t, s.url, true)
				w.send(first)
				if code := w.closeCode(); code != protocol.CloseHelloRequired {
					t.Fatalf("first %v: close %d (%v), want 4002", first, code, w.err)
				}
			}
		}},
		{"type confusion", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			d := clientDelta(t, crdt.NewObject(), w.replica, now, crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String("x")})
			w.send(map[string]any{"t": "delta", "id": 11, "key": "target/c", "delta": wsDeltaJSON(t, d)})
			w.expectError(protocol.WrongType, 11)
		}},
		{"forged dot", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			d := clientDelta(t, crdt.NewObject(), other, now, wsInc) // minted under another replica
			w.send(map[string]any{"t": "delta", "id": 12, "key": "target/c", "delta": wsDeltaJSON(t, d)})
			w.expectError(protocol.ForgedDot, 12)
		}},
		{"subscription limits", WSOptions{MaxSubs: 3}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			for i := 1; i <= 3; i++ {
				w.send(map[string]any{"t": "sub", "id": i, "key": fmt.Sprint("target/", i)})
				w.expect("snapshot")
			}
			w.send(map[string]any{"t": "sub", "id": 3, "key": "target/x"})
			w.expectError(protocol.DuplicateSub, 3)
			w.send(map[string]any{"t": "sub", "id": 4, "key": "target/x"})
			w.expectError(protocol.TooManySubs, 4)
		}},
		{"connection limit", WSOptions{MaxConns: 2}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true) // the watcher is the first
			w.hello(nil)
			_, resp, err := websocket.DefaultDialer.Dial(s.url, nil)
			if err == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("a third connection: %v", err)
			}
			if body := readBody(t, resp); !strings.Contains(body, "too_many_connections") {
				t.Fatalf("a third connection: %s", body)
			}
			w.c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for { // a slot frees once the node has seen the close
				c, _, err := websocket.DefaultDialer.Dial(s.url, nil)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no slot after a connection closed: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := metricValue(t, s.n, "lattice_limit_hits_total", "limit=connections"); got < 1 {
				t.Fatalf("lattice_limit_hits_total{limit=connections} = %v", got)
			}
		}},
		{"cross-origin upgrade", WSOptions{}, func(t *testing.T, s *wsNode) {
			for _, origin := range []string{"http://evil.example", "null", "http://127.0.0.1.evil.example"} {
				_, resp, err := websocket.DefaultDialer.Dial(s.url, http.Header{"Origin": {origin}})
				if err == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("upgrade from %s: %v", origin, err)
				}
				if body := readBody(t, resp); !strings.Contains(body, "forbidden_origin") {
					t.Fatalf("upgrade from %s: %s", origin, body)
				}
			}
			if got := metricValue(t, s.n, "lattice_limit_hits_total", "limit=origin"); got != 3 {
				t.Fatalf("lattice_limit_hits_total{limit=origin} = %v", got)
			}
		}},
		{"flood", WSOptions{}, func(t *testing.T, s *wsNode) {
			w := dialWS(t, s.url, true)
			w.hello(nil)
			const flood = 10_000
			for i := 0; i < flood; i++ {
				if err := w.c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"t":"ping","id":%d}`, i)); err != nil {
					t.Fatal(err)
				}
			}
			pongs, limited := 0, 0
			for pongs+limited < flood {
				m := w.nextJSON()
				switch {
				case m["t"] == "pong":
					pongs++
				case m["t"] == "error" && m["code"] == protocol.RateLimited:
					limited++
				default:
					t.Fatalf("flood answered with %v", m)
				}
			}
			t.Logf("flood of %d: %d answered, %d rate limited", flood, pongs, limited)
			if limited == 0 || pongs < DefaultWSBurst {
				t.Fatalf("%d pongs, %d rate_limited", pongs, limited)
			}
		}},
		{"client that never reads", WSOptions{WriteTimeout: 500 * time.Millisecond}, func(t *testing.T, s *wsNode) {
			w := dialWSWith(t, s.url, false, wsSmallBufferDialer)
			w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()})
			w.send(map[string]any{"t": "sub", "id": 1, "prefix": "slow/"})
			var queues []int
			for len(queues) < 2 { // the watcher and this one
				queues = s.ws.SendQueues()
			}
			// The send queue is a channel of the configured capacity, so it
			// is bounded by construction; the client is dropped, not queued
			// for without end.
			for _, q := range queues {
				if q != DefaultWSSendQueue {
					t.Fatalf("send queue of capacity %d, want %d", q, DefaultWSSendQueue)
				}
			}
			// Large writes fill the socket's buffers; then the write
			// deadline must pass, however long a loaded machine takes to
			// fire it, so after the writes the loop only waits.
			deadline := time.Now().Add(2 * time.Minute)
			for i := 0; len(s.ws.SendQueues()) > 1; i++ {
				if time.Now().After(deadline) {
					t.Fatal("a client that never reads is still connected 2 minutes after its buffers filled")
				}
				if i < 3000 {
					if _, err := s.n.Apply(ctx, fmt.Sprintf("slow/%d", i%8), wsBigValue(i, 16<<10)); err != nil {
						t.Fatal(err)
					}
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if got := metricValue(t, s.n, "lattice_ws_errors_total", "code=too_slow"); got != 1 {
				t.Fatalf("lattice_ws_errors_total{code=too_slow} is %v", got)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			s := startWSNode(t, testConfig(t, "n"), tc.opts, nil)
			if _, err := s.n.Apply(ctx, "target/c", wsInc); err != nil {
				t.Fatal(err)
			}
			watcher := dialWS(t, s.url, true)
			watcher.hello(nil)
			watcher.send(map[string]any{"t": "sub", "id": 1, "key": "watch/x"})
			v := newWSView()
			v.readUntil(t, watcher, func() bool { return v.kinds["snapshot"] == 1 })

			stop := make(chan struct{})
			var writes atomic.Int64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the third party
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.n.Apply(ctx, "watch/x", wsInc); err != nil {
						t.Error(err)
						return
					}
					writes.Add(1)
					time.Sleep(2 * time.Millisecond)
				}
			}()
			before := wsDigestExcept(t, s.n, "watch/")
			// The watcher reads throughout; the view is checked at the end.
			var vmu sync.Mutex
			watchDone := make(chan struct{})
			go func() {
				defer close(watchDone)
				for {
					select {
					case f := <-watcher.in:
						vmu.Lock()
						v.apply(t, f.data)
						vmu.Unlock()
					case <-stop:
						return
					}
				}
			}()

			tc.run(t, s)

			for writes.Load() < 50 { // the watcher sees a stream, not a write or two
				time.Sleep(5 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			<-watchDone
			if after := wsDigestExcept(t, s.n, "watch/"); after != before && !strings.Contains(tc.name, "never reads") {
				t.Fatal("bad input changed the stored state")
			}
			want := writes.Load()
			v.readUntil(t, watcher, func() bool { return v.objs["watch/x"] != nil && v.objs["watch/x"].Value() == want })
			if v.resyncs != 0 || !v.same(t, s.n, "watch/x") {
				t.Fatalf("the watcher was disturbed: %v", v.kinds)
			}
			t.Logf("watcher saw %d writes: %v", want, v.kinds)
		})
	}
}
