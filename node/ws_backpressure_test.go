// A slow WebSocket consumer: its send queue overflows and it is resynced.

package node

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestWSSlowConsumerResync(t *testing.T) {
	s := startWSNode(t, testConfig(t, "n"), WSOptions{SendQueue: 16, WriteTimeout: 20 * time.Second}, nil)
	ctx := context.Background()
	w := dialWSWith(t, s.url, false, wsSmallBufferDialer)
	w.send(map[string]any{"t": "hello", "v": 1, "replica": w.replica.String()})
	w.send(map[string]any{"t": "sub", "id": 1, "prefix": "slow/"})
	for i := 0; metricValue(t, s.n, "lattice_ws_resyncs_total") == 0; i++ {
		if i > 2000 {
			t.Fatal("no resync after 2000 large writes to a client that does not read")
		}
		if _, err := s.n.Apply(ctx, fmt.Sprintf("slow/%d", i%4), wsBigValue(i, 16<<10)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ { // more while it still does not read
		if _, err := s.n.Apply(ctx, "slow/c", wsInc); err != nil {
			t.Fatal(err)
		}
	}
	// Now it reads: a resync, then a snapshot that brings it up to date.
	go w.readFrames()
	v := newWSView()
	keys := []string{"slow/0", "slow/1", "slow/2", "slow/3", "slow/c"}
	v.readUntil(t, w, func() bool { return v.resyncs > 0 && v.same(t, s.n, keys...) })
	if wsCounter(t, s.n, "slow/c") != 50 {
		t.Fatal("counter")
	}
}
