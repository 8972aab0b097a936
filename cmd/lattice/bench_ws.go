package main

// What the scenarios share: an in-process node behind a loopback WebSocket
// listener, and a minimal protocol client (docs/protocol.md) that sends
// binary deltas and timestamps what it receives.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/frames"
	"github.com/lattice-sync/lattice/internal/protocol"
	"github.com/lattice-sync/lattice/node"
)

// benchNode is a node with its WebSocket endpoint on a loopback port.
type benchNode struct {
	n   *node.Node
	ws  *node.WSHandler
	srv *http.Server
	url string // ws://127.0.0.1:port/v1/ws; for startRESTNode, http://127.0.0.1:port
}

// benchWSOptions lifts the per-connection rate limit out of the way: the
// scenarios measure capacity, not the limiter. Every other limit is the
// default.
var benchWSOptions = node.WSOptions{Rate: 1e9, Burst: 1e9}

func (env *benchEnv) nodeConfig(name string) node.Config {
	cfg := node.DefaultConfig(name, filepath.Join(env.dir, fmt.Sprintf("%s-%d", name, time.Now().UnixNano())))
	cfg.Logger = env.log
	return cfg
}

// startBenchNode opens a node from cfg and serves its WebSocket endpoint
// on 127.0.0.1. attach, if set, is called before serving.
func startBenchNode(cfg node.Config, attach func(*node.Node) error) (*benchNode, error) {
	n, err := node.Open(cfg)
	if err != nil {
		return nil, err
	}
	if attach != nil {
		if err := attach(n); err != nil {
			n.Close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		return nil, err
	}
	h := node.NewWSHandler(n, benchWSOptions)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", h)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return &benchNode{n: n, ws: h, srv: srv, url: "ws://" + ln.Addr().String() + "/v1/ws"}, nil
}

// startRESTNode opens a node from cfg and serves the whole HTTP API, as
// lattice serve does (the WebSocket endpoint with benchWSOptions); url is
// the API's base, http://127.0.0.1:port.
func startRESTNode(cfg node.Config) (*benchNode, error) {
	n, err := node.Open(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		return nil, err
	}
	srv := node.NewHTTPServer(node.NewHTTPHandler(n, node.HTTPOptions{Logger: cfg.Logger, WS: benchWSOptions}), nil)
	go srv.Serve(ln)
	return &benchNode{n: n, srv: srv, url: "http://" + ln.Addr().String()}, nil
}

func (b *benchNode) close() {
	if b.ws != nil {
		b.ws.Close()
	}
	b.srv.Close()
	b.n.Close()
}

// frame is one received message and when it arrived.
type frame struct {
	at   time.Time
	mt   int
	data []byte
}

// wsClient is a protocol client on one connection. onFrame, if set, sees
// every frame after the hello; otherwise frames are dropped.
type wsClient struct {
	c       *websocket.Conn
	replica crdt.ReplicaID
	obj     *crdt.Object // the client's replica of the key it writes
	wmu     sync.Mutex
	acks    atomic.Int64
	ackCh   chan struct{} // one token per ack, when made with acks
	errs    atomic.Int64
	done    chan struct{}
	onFrame func(f frame)
	// compact: the session speaks binary2 (internal/frames); fw is its
	// client-to-node side, written under wmu's caller's order.
	compact bool
	fw      frames.Writer
}

var benchDialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

// dialClient connects, says hello (binary encoding when binary) and starts
// reading. wantAcks makes ackCh carry one token per ack.
func dialClient(url string, binaryEnc bool, wantAcks bool, onFrame func(frame)) (*wsClient, error) {
	return dialClientAs(uuid.New(), url, binaryEnc, wantAcks, onFrame)
}

// dialClientAs is dialClient with a given replica id.
func dialClientAs(replica crdt.ReplicaID, url string, binaryEnc bool, wantAcks bool, onFrame func(frame)) (*wsClient, error) {
	enc := protocol.EncodingJSON
	if binaryEnc {
		enc = protocol.EncodingBinary
	}
	return dialClientEnc(replica, url, enc, wantAcks, onFrame)
}

// dialClientEnc is dialClientAs with the encoding named as in hello.
func dialClientEnc(replica crdt.ReplicaID, url string, enc string, wantAcks bool, onFrame func(frame)) (*wsClient, error) {
	c, _, err := benchDialer.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	w := &wsClient{c: c, replica: replica, obj: crdt.NewObject(), done: make(chan struct{}), onFrame: onFrame, compact: enc == protocol.EncodingCompact}
	if wantAcks {
		w.ackCh = make(chan struct{}, 1<<20)
	}
	hello, _ := json.Marshal(map[string]any{"t": protocol.Hello, "v": protocol.Version, "replica": w.replica.String(), "encoding": enc})
	if err := c.WriteMessage(websocket.TextMessage, hello); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	var m struct {
		T string `json:"t"`
	}
	if json.Unmarshal(data, &m) != nil || m.T != "welcome" {
		c.Close()
		return nil, fmt.Errorf("hello answered by %.200s", data)
	}
	_ = c.SetReadDeadline(time.Time{})
	go w.readLoop()
	return w, nil
}

// ackPrefix and errorPrefix start the node's ack and error messages.
var errorPrefix = []byte(`{"t":"` + protocol.Error + `"`)

var ackPrefix = []byte(`{"t":"` + protocol.Ack + `"`)

func (w *wsClient) readLoop() {
	defer close(w.done)
	for {
		mt, data, err := w.c.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		if mt == websocket.TextMessage && len(data) > len(ackPrefix) && string(data[:len(ackPrefix)]) == string(ackPrefix) {
			w.acks.Add(1)
			if w.ackCh != nil {
				w.ackCh <- struct{}{}
			}
			continue
		}
		if mt == websocket.TextMessage && bytes.HasPrefix(data, errorPrefix) {
			w.errs.Add(1)
		}
		if w.onFrame != nil {
			w.onFrame(frame{at: at, mt: mt, data: data})
		}
	}
}

// send writes one message; clients are written from several goroutines.
func (w *wsClient) send(mt int, b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.c.WriteMessage(mt, b)
}

// subscribe asks for key, fresh; the caller's onFrame sees the snapshot
// (isSnapshotDone) and then the live deltas.
func (w *wsClient) subscribe(id int, key string) error { return w.subscribeAs(id, key, false) }

// subscribeAs is subscribe, saying with empty that the client holds
// nothing under key (docs/protocol.md, "sub").
func (w *wsClient) subscribeAs(id int, key string, empty bool) error {
	m := map[string]any{"t": protocol.Sub, "id": id, "key": key, "fresh": true}
	if empty {
		m["empty"] = true
	}
	b, _ := json.Marshal(m)
	return w.send(websocket.TextMessage, b)
}

func (w *wsClient) close() {
	w.wmu.Lock()
	_ = w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	w.wmu.Unlock()
	w.c.Close()
	<-w.done
}

// setFrame makes the binary client frame of one map set by this client:
// 'D', the delta id, then a one-item batch (docs/protocol.md).
func (w *wsClient) setFrame(id uint64, key, field string, value int64, now crdt.Timestamp) ([]byte, error) {
	op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{field}, Value: crdt.MustInt(value)}
	d, err := w.obj.Apply(w.replica, now, op)
	if err != nil {
		return nil, err
	}
	if w.compact {
		return compactFrame(&w.fw, id, key, d, now)
	}
	return deltaFrame(id, key, d, now)
}

// compactFrame is the binary2 client frame of one delta, written against
// the session state fw (frames must then be sent in the order made).
func compactFrame(fw *frames.Writer, id uint64, key string, d *crdt.Object, now crdt.Timestamp) ([]byte, error) {
	it, err := frames.NewItem(key, d, now)
	if err != nil {
		return nil, err
	}
	return fw.AppendDeltas(nil, id, []*frames.Item{&it}), nil
}

func deltaFrame(id uint64, key string, d *crdt.Object, now crdt.Timestamp) ([]byte, error) {
	raw, err := crdt.Batch{Clock: now, Items: []crdt.BatchItem{{Key: key, Delta: d}}}.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint([]byte{'D'}, id)
	return append(b, raw...), nil
}

// liveDelta decodes a binary live delta frame ('d': cursor, then a
// one-item batch) and returns its delta, or nil for other frames.
func liveDelta(f frame) (*crdt.Object, error) {
	if f.mt != websocket.BinaryMessage || len(f.data) == 0 || f.data[0] != 'd' {
		return nil, nil
	}
	n, k := binary.Uvarint(f.data[1:])
	if k <= 0 || 1+k+int(n) > len(f.data) {
		return nil, errors.New("bad live delta frame")
	}
	b, err := crdt.UnmarshalBatch(f.data[1+k+int(n):])
	if err != nil || len(b.Items) != 1 {
		return nil, fmt.Errorf("live delta: %v", err)
	}
	return b.Items[0].Delta, nil
}

// liveCount is how many deltas a binary2 live frame holds.
func liveCount(f frame) (int, bool) {
	if f.mt != websocket.BinaryMessage {
		return 0, false
	}
	return frames.LiveCount(f.data)
}

// isSnapshotDone reports a frame that ends a subscription's snapshot, in
// either encoding.
func isSnapshotDone(f frame) bool {
	if f.mt == websocket.BinaryMessage {
		if len(f.data) < 2 || f.data[0] != 's' {
			return false
		}
		_, k := binary.Uvarint(f.data[1:])
		return k > 0 && len(f.data) > 1+k && f.data[1+k] == 1
	}
	var m struct {
		T    string `json:"t"`
		Done bool   `json:"done"`
	}
	return json.Unmarshal(f.data, &m) == nil && m.T == "snapshot" && m.Done
}

// clientClock is the hybrid clock a bench client stamps its writes with.
type clientClock struct {
	mu sync.Mutex
	c  crdt.Clock
}

func (c *clientClock) now() crdt.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Now(time.Now().UnixMilli())
}
