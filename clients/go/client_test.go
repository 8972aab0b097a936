package lattice

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/node"
)

// TestOfflineEditsPersist works with no network at all: every kind of
// edit, reads, handlers, and a reopen that finds it all again.
func TestOfflineEditsPersist(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(&Options{Dir: dir})
	must(t, err)
	var mu sync.Mutex
	var seen []string
	sub, err := c.SubscribePrefix("doc/", ChangeFunc(func(key, value string, local bool) {
		mu.Lock()
		seen = append(seen, key+"="+value)
		mu.Unlock()
	}))
	must(t, err)
	must(t, c.Inc("doc/n", "", 5))
	must(t, c.Dec("doc/n", "", 2))
	must(t, c.Add("doc/s", "", JSONString("milk")))
	must(t, c.Add("doc/s", "", "42"))
	must(t, c.Remove("doc/s", "", "42"))
	must(t, c.Set("doc/m", "card/title", JSONString("Plan")))
	must(t, c.Inc("doc/m", "card/votes", 2))
	must(t, c.Enable("doc/m", "card/done"))
	must(t, c.SetMV("doc/m", "mv", "true"))
	must(t, c.Set("doc/r", "", "1.5"))
	must(t, c.Enable("doc/f", ""))
	must(t, c.Disable("doc/f", ""))
	must(t, c.Apply("doc/m", `{"type":"set","op":"add","path":["card","tags"],"value":"urgent"}`))
	must(t, c.Delete("doc/m", "mv"))
	if err := c.Add("doc/n", "", "1"); !errors.Is(err, crdt.ErrWrongType) {
		t.Fatalf("add to a counter: %v, want ErrWrongType", err)
	}
	if err := c.Add("doc/s", "", "milk"); err == nil {
		t.Fatal("a value that is not JSON was accepted")
	}
	want := map[string]string{
		"doc/n": `3`,
		"doc/s": `["milk"]`,
		"doc/m": `{"card":{"done":true,"tags":["urgent"],"title":"Plan","votes":2}}`,
		"doc/r": `1.5`,
		"doc/f": `false`,
		"doc/x": `null`,
	}
	check := func(c *Client) {
		t.Helper()
		for k, w := range want {
			if v, err := c.Get(k); err != nil || v != w {
				t.Errorf("Get(%s) = %s, %v; want %s", k, v, err, w)
			}
		}
		if ks := c.Keys("doc/"); ks != `["doc/f","doc/m","doc/n","doc/r","doc/s"]` {
			t.Errorf("Keys = %s", ks)
		}
	}
	check(c)
	if n := c.Pending(); n != 5 {
		t.Errorf("pending %d, want one per key (5)", n)
	}
	if s := c.Status(); s != StatusOffline {
		t.Errorf("status %s", s)
	}
	if err := c.Sync(100); !errors.Is(err, ErrOffline) {
		t.Errorf("Sync without URLs: %v", err)
	}
	replica := c.Replica()
	eventually(t, 5*time.Second, "change handlers", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 14, strings.Join(seen, " ")
	})
	sub.Close()
	must(t, c.Close())
	if err := c.Inc("doc/n", "", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Inc after Close: %v", err)
	}

	c2, err := Open(&Options{Dir: dir})
	must(t, err)
	defer c2.Close()
	check(c2)
	if c2.Replica() != replica {
		t.Errorf("replica id changed: %s, was %s", c2.Replica(), replica)
	}
	if n := c2.Pending(); n != 5 {
		t.Errorf("pending %d after reopen", n)
	}
	if _, err := Open(&Options{Dir: dir}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open of one directory: %v, want ErrInUse", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":      "ws://127.0.0.1:8080/v1/ws",
		"https://a.example/":         "wss://a.example/v1/ws",
		"ws://a:1/v1/ws":             "ws://a:1/v1/ws",
		"wss://a.example/custom/ws":  "wss://a.example/custom/ws",
		"http://a.example/prefix/ws": "ws://a.example/prefix/ws",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://a", "a.example:80", "http://"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}

// TestSyncAndToken syncs two clients through one node, and checks that
// the token goes in the upgrade's Authorization header.
func TestSyncAndToken(t *testing.T) {
	cl := newCluster(t, 1, nil)
	a := openClient(t, Options{URLs: cl.urls(0), Token: "secret-a"})
	b := openClient(t, Options{Dir: t.TempDir(), URLs: "http://" + cl.nodes[0].addr})
	changes := make(chan string, 100)
	_, err := b.Subscribe("k", ChangeFunc(func(key, value string, local bool) {
		if !local {
			changes <- value
		}
	}))
	must(t, err)
	_, err = a.Subscribe("k", nil)
	must(t, err)
	mustSync(t, b, "b")
	must(t, a.Inc("k", "", 7))
	mustSync(t, a, "a")
	select {
	case v := <-changes:
		if v != "7" {
			t.Fatalf("b saw %s", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b saw no change")
	}
	if a.Node() != "n0" || a.Status() != StatusOnline {
		t.Errorf("a: node %q status %s", a.Node(), a.Status())
	}
	var cur map[string]uint64
	must(t, json.Unmarshal([]byte(b.Cursor()), &cur))
	if cur == nil {
		t.Errorf("b kept no cursor: %s", b.Cursor())
	}
	tn := cl.nodes[0]
	tn.mu.Lock()
	found := false
	for _, h := range tn.hdrs {
		found = found || h.Get("Authorization") == "Bearer secret-a"
	}
	tn.mu.Unlock()
	if !found {
		t.Error("no upgrade carried Authorization: Bearer secret-a")
	}
}

// TestTLSWithCAFile connects over wss:// to a server whose certificate
// only the given CA file vouches for.
func TestTLSWithCAFile(t *testing.T) {
	cfg := node.DefaultConfig("tls", t.TempDir())
	cfg.SyncWrites = false
	cfg.Logger = quietLogger()
	n, err := node.Open(cfg)
	must(t, err)
	srv := httptest.NewUnstartedServer(node.NewHTTPHandler(n, node.HTTPOptions{Logger: quietLogger()}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake failures
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	url := strings.Replace(srv.URL, "https://", "wss://", 1)

	untrusted := openClient(t, Options{URLs: url})
	if err := untrusted.Sync(3000); err == nil {
		t.Fatal("synced with a server no CA vouches for")
	}
	c := openClient(t, Options{URLs: url, CAFile: ca})
	must(t, c.Inc("tls", "", 1))
	mustSync(t, c, "wss with CAFile")
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c2 := openClient(t, Options{URLs: srv.URL, RootCAs: pool})
	_, err = c2.Subscribe("tls", nil)
	must(t, err)
	mustSync(t, c2, "https URL with RootCAs")
	if v, _ := c2.Get("tls"); v != "1" {
		t.Errorf("tls = %s", v)
	}
}
