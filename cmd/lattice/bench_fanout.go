package main

// Scenario 2, fan-out: one writer makes map sets as fast as the server
// takes them, and N subscribed WebSocket clients receive every one. The
// figure is deliveries per second (sets × subscribers over the time from
// the first send to the last delivery). The same Go subscribers, which only
// count messages, read from each server: a Lattice node, a raw
// gorilla/websocket broadcast hub sending messages of the size of Lattice's
// live delta frames, and the y-websocket server with a Yjs writer.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/lattice-sync/lattice/internal/protocol"
)

// counter counts the messages a predicate accepts, across subscribers,
// and closes done when want is reached.
type counter struct {
	n     atomic.Int64
	bytes atomic.Int64
	mu    sync.Mutex
	want  int64
	done  chan struct{}
}

func (c *counter) reset(want int64) {
	c.mu.Lock()
	c.n.Store(0)
	c.bytes.Store(0)
	c.want = want
	c.done = make(chan struct{})
	c.mu.Unlock()
}

func (c *counter) add(size int) { c.addN(1, size) }

// addN counts n deliveries of size bytes in all.
func (c *counter) addN(n, size int) {
	c.bytes.Add(int64(size))
	v := c.n.Add(int64(n))
	c.mu.Lock()
	if v-int64(n) < c.want && v >= c.want {
		close(c.done)
	}
	c.mu.Unlock()
}

func (c *counter) wait(d time.Duration) error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%d of %d deliveries within %v", c.n.Load(), c.want, d)
	}
}

// rawSub is a counting subscriber on any WebSocket server.
type rawSub struct {
	c    *websocket.Conn
	done chan struct{}
}

func dialRawSub(url string, first chan<- struct{}, count func(mt int, data []byte)) (*rawSub, error) {
	c, _, err := benchDialer.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	s := &rawSub{c: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		once := false
		for {
			mt, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			if !once && first != nil {
				once = true
				first <- struct{}{}
			}
			count(mt, data)
		}
	}()
	return s, nil
}

func (s *rawSub) close() {
	s.c.Close()
	<-s.done
}

func benchFanout(env *benchEnv) ([]row, error) {
	var rows []row
	for i, n := range env.sizes.FanoutSubs {
		rs, err := fanoutFor(env, n, env.sizes.FanoutSets[i])
		if err != nil {
			return nil, fmt.Errorf("%d subscribers: %w", n, err)
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

func fanoutFor(env *benchEnv, subs, sets int) ([]row, error) {
	deadline := env.sizes.FanoutDeadline
	// Lattice.
	bn, err := startBenchNode(env.nodeConfig("fanout"), nil)
	if err != nil {
		return nil, err
	}
	defer bn.close()
	var lc counter
	var lsubs []*wsClient
	defer func() {
		for _, c := range lsubs {
			c.close()
		}
	}()
	for i := 0; i < subs; i++ {
		snap := make(chan struct{})
		var once sync.Once
		c, err := dialClientEnc(uuid.New(), bn.url, protocol.EncodingCompact, false, func(f frame) {
			if n, ok := liveCount(f); ok {
				lc.addN(n, len(f.data))
			} else if isSnapshotDone(f) {
				once.Do(func() { close(snap) })
			}
		})
		if err != nil {
			return nil, err
		}
		lsubs = append(lsubs, c)
		if err := c.subscribe(1, "fan"); err != nil {
			return nil, err
		}
		select {
		case <-snap:
		case <-time.After(10 * time.Second):
			return nil, errors.New("no snapshot")
		}
	}
	writer, err := dialClientEnc(uuid.New(), bn.url, protocol.EncodingCompact, true, nil)
	if err != nil {
		return nil, err
	}
	defer writer.close()
	var clk clientClock
	nextID := uint64(0)
	frameSize := 0
	lattice := func() (float64, error) {
		frames := make([][]byte, sets)
		for k := range frames {
			nextID++
			f, err := writer.setFrame(nextID, "fan", fmt.Sprintf("f%d", nextID%102), int64(nextID%100), clk.now())
			if err != nil {
				return 0, err
			}
			frames[k] = f
		}
		lc.reset(int64(sets * subs))
		start := time.Now()
		sent, acked := 0, 0
		for acked < sets {
			for sent < sets && sent-acked < 64 {
				if err := writer.send(websocket.BinaryMessage, frames[sent]); err != nil {
					return 0, err
				}
				sent++
			}
			select {
			case <-writer.ackCh:
				acked++
			case <-time.After(deadline):
				return 0, errors.New("no ack")
			}
		}
		if err := lc.wait(deadline); err != nil {
			return 0, fmt.Errorf("lattice: %w", err)
		}
		el := time.Since(start)
		frameSize = int(lc.bytes.Load() / lc.n.Load())
		return float64(sets*subs) / el.Seconds(), nil
	}

	// The raw hub.
	hub, err := startHub()
	if err != nil {
		return nil, err
	}
	defer hub.close()
	var hc counter
	var hsubs []*rawSub
	defer func() {
		for _, s := range hsubs {
			s.close()
		}
	}()
	for i := 0; i < subs; i++ {
		s, err := dialRawSub(hub.url, nil, func(mt int, data []byte) { hc.add(len(data)) })
		if err != nil {
			return nil, err
		}
		hsubs = append(hsubs, s)
	}
	hw, _, err := benchDialer.Dial(hub.url, nil)
	if err != nil {
		return nil, err
	}
	defer hw.Close()
	for hub.count() < subs+1 {
		time.Sleep(time.Millisecond)
	}
	base := func() (float64, error) {
		msg := make([]byte, max(frameSize, 1))
		msg[0] = 'd'
		hc.reset(int64(sets * subs))
		start := time.Now()
		for k := 0; k < sets; k++ {
			if err := hw.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				return 0, err
			}
		}
		if err := hc.wait(deadline); err != nil {
			return 0, fmt.Errorf("hub: %w", err)
		}
		return float64(sets*subs) / time.Since(start).Seconds(), nil
	}

	// Yjs: the y-websocket server and a Yjs writer, in Node.js.
	var yjs func() (float64, error)
	if env.yjs != nil {
		srv, err := env.yjs.start("server.js")
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		l, err := srv.expect("listening ", 10*time.Second)
		if err != nil {
			return nil, err
		}
		url := "ws://127.0.0.1:" + l[len("listening "):] + "/fan"
		var yc counter
		var ysubs []*rawSub
		defer func() {
			for _, s := range ysubs {
				s.close()
			}
		}()
		first := make(chan struct{}, subs)
		for i := 0; i < subs; i++ {
			s, err := dialRawSub(url, first, func(mt int, data []byte) {
				if mt == websocket.BinaryMessage && len(data) > 2 && data[0] == 0 && data[1] == 2 {
					yc.add(len(data))
				}
			})
			if err != nil {
				return nil, err
			}
			ysubs = append(ysubs, s)
		}
		for i := 0; i < subs; i++ { // each has had sync step 1: the server holds it
			select {
			case <-first:
			case <-time.After(10 * time.Second):
				return nil, errors.New("y-websocket: a subscriber got no sync step 1")
			}
		}
		w, err := env.yjs.start("writer.js", url)
		if err != nil {
			return nil, err
		}
		defer w.stop()
		if _, err := w.expect("open", 10*time.Second); err != nil {
			return nil, err
		}
		yjs = func() (float64, error) {
			if err := w.send(fmt.Sprintf("prep %d", sets)); err != nil {
				return 0, err
			}
			if _, err := w.expect("ready", deadline); err != nil {
				return 0, err
			}
			yc.reset(int64(sets * subs))
			start := time.Now()
			if err := w.send("go"); err != nil {
				return 0, err
			}
			if err := yc.wait(deadline); err != nil {
				return 0, fmt.Errorf("yjs: %w", err)
			}
			return float64(sets*subs) / time.Since(start).Seconds(), nil
		}
	}

	var ls, hs, ys []float64
	for rep := 0; rep < env.reps; rep++ {
		for _, m := range []struct {
			run func() (float64, error)
			out *[]float64
		}{{lattice, &ls}, {base, &hs}, {yjs, &ys}} {
			if m.run == nil {
				continue
			}
			v, err := m.run()
			if err != nil {
				return nil, err
			}
			*m.out = append(*m.out, v)
		}
	}
	note := fmt.Sprintf("%d subscribers, %d map sets per repetition from one writer; deliveries = sets × subscribers, timed from the first send to the last delivery. The subscribers are the same Go gorilla clients for all three servers and only count messages. Lattice: one node (defaults, sync on), the compact binary protocol (binary2: every delta queued for a subscriber goes out in one frame), writer pipelining up to 64 deltas, %d B of live frames per delivery. Raw hub: gorilla/websocket, a 1,024-message send queue and a writer goroutine per connection, broadcasting each message from the writer, one write per message (%d B, Lattice's bytes per delivery). Yjs: y-websocket's server (setupWSConnection) in Node.js, a Yjs writer sending each map set's update as WebsocketProvider does; the count is of sync-update messages.", subs, sets, frameSize, frameSize)
	rows := []row{
		{Metric: fmt.Sprintf("deliveries per second to %s subscribers", groupThousands(int64(subs))), Lattice: median(ls), Base: median(hs), Unit: "/s", BaseName: "raw gorilla hub", Target: ">= 0.6", Note: note},
		{Metric: fmt.Sprintf("deliveries per second to %s subscribers", groupThousands(int64(subs))), Lattice: median(ls), Base: median(ys), Unit: "/s", BaseName: "y-websocket + Yjs", Target: ">= 2"},
	}
	if yjs == nil {
		rows[1].Skip = "Yjs unavailable: " + env.why
	}
	return rows, nil
}

// rawHub is the baseline: a gorilla/websocket broadcast hub.
type rawHub struct {
	srv   *http.Server
	url   string
	mu    sync.Mutex
	conns map[*websocket.Conn]chan []byte
	wg    sync.WaitGroup
}

func startHub() (*rawHub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &rawHub{conns: map[*websocket.Conn]chan []byte{}, url: "ws://" + ln.Addr().String() + "/"}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		send := make(chan []byte, 1024)
		h.mu.Lock()
		h.conns[c] = send
		h.mu.Unlock()
		h.wg.Add(1)
		go func() { // writer
			defer h.wg.Done()
			for m := range send {
				if c.WriteMessage(websocket.BinaryMessage, m) != nil {
					return
				}
			}
		}()
		for { // reader: broadcast to everyone else
			_, m, err := c.ReadMessage()
			if err != nil {
				break
			}
			h.mu.Lock()
			for o, ch := range h.conns {
				if o != c {
					select {
					case ch <- m:
					default: // a full queue drops, as the chat example does
					}
				}
			}
			h.mu.Unlock()
		}
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		close(send)
		c.Close()
	})}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *rawHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func (h *rawHub) close() {
	h.srv.Close()
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
}
