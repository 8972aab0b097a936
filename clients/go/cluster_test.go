package lattice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/node"
	"github.com/lattice-sync/lattice/transport"
)

// Test helpers: real nodes (node.Node behind a real HTTP server, peers on
// an in-memory network), stopped and restarted on the same directory and
// address.

// testSeed is the generator of a test's random choices, from its logged
// seed (testkit.Seed).
func testSeed(t *testing.T) *rand.Rand { return testkit.Rand(testkit.Seed(t), 0) }

type testNode struct {
	name string
	cfg  node.Config
	addr string // host:port, kept across restarts

	mu   sync.Mutex
	n    *node.Node
	mt   *transport.MemTransport
	srv  *http.Server
	hdrs []http.Header // upgrade request headers seen, for the token test
}

func (tn *testNode) url() string { return "ws://" + tn.addr + "/v1/ws" }

func (tn *testNode) node() *node.Node {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.n
}

type testCluster struct {
	t     *testing.T
	net   *transport.MemNetwork
	nodes []*testNode
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newCluster starts size nodes n0, n1, …; edit adjusts each config.
func newCluster(t *testing.T, size int, edit func(*node.Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: transport.NewMemNetwork()}
	for i := 0; i < size; i++ {
		cfg := node.DefaultConfig(fmt.Sprintf("n%d", i), t.TempDir())
		cfg.AntiEntropyInterval = 50 * time.Millisecond
		cfg.SyncWrites = false
		cfg.Logger = quietLogger()
		if edit != nil {
			edit(&cfg)
		}
		tn := &testNode{name: cfg.Name, cfg: cfg, addr: "127.0.0.1:0"}
		c.nodes = append(c.nodes, tn)
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

// start opens node i (again) and serves it.
func (c *testCluster) start(i int) {
	t := c.t
	t.Helper()
	tn := c.nodes[i]
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.n != nil {
		return
	}
	n, err := node.Open(tn.cfg)
	if err != nil {
		t.Fatalf("opening %s: %v", tn.name, err)
	}
	mt := c.net.Add(tn.name)
	if err := n.Attach(mt); err != nil {
		t.Fatalf("attaching %s: %v", tn.name, err)
	}
	var ln net.Listener
	for try := 0; ; try++ {
		ln, err = net.Listen("tcp", tn.addr)
		if err == nil {
			break
		}
		if try > 50 {
			t.Fatalf("listening on %s: %v", tn.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tn.addr = ln.Addr().String()
	h := node.NewHTTPHandler(n, node.HTTPOptions{Logger: quietLogger()})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/ws" {
			tn.mu.Lock()
			tn.hdrs = append(tn.hdrs, r.Header.Clone())
			tn.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	tn.n, tn.mt, tn.srv = n, mt, srv
}

// stop closes node i: its clients see the connection close.
func (c *testCluster) stop(i int) {
	tn := c.nodes[i]
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.n == nil {
		return
	}
	_ = tn.mt.Close()
	_ = tn.n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tn.srv.Shutdown(ctx)
	_ = tn.srv.Close()
	tn.n, tn.mt, tn.srv = nil, nil, nil
}

func (c *testCluster) urls(order ...int) string {
	var us []string
	for _, i := range order {
		us = append(us, c.nodes[i].url())
	}
	return strings.Join(us, ",")
}

// canonical returns every object under prefix on node i, canonical JSON.
func canonicalOf(t *testing.T, n *node.Node, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := n.Scan(prefix, func(k string, o *crdt.Object) error {
		b, err := o.MarshalJSON()
		out[k] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", n.Name(), err)
	}
	return out
}

// clientCanonical is the same for a client's replica.
func clientCanonical(c *Client, prefix string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for k, o := range c.objects {
		if strings.HasPrefix(k, prefix) && !o.IsEmpty() {
			b, _ := o.MarshalJSON()
			out[k] = string(b)
		}
	}
	return out
}

func sameMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// eventually is testkit.Await.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testkit.Await(t, d, what, cond)
}

// openClient opens a client for a test, closed when the test ends.
func openClient(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.BackoffInitialMillis == 0 {
		opts.BackoffInitialMillis = 20
		opts.BackoffMaxMillis = 200
	}
	if os.Getenv("LATTICE_CLIENT_LOGS") == "1" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := Open(&opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	})
	return c
}

func mustSync(t *testing.T, c *Client, what string) {
	t.Helper()
	if err := c.Sync(20_000); err != nil {
		t.Fatalf("%s: sync: %v", what, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
