package lattice

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lattice-sync/lattice/node"
)

// TestTokenAgainstAuthNode: against a node that checks tokens, a client
// without one is told unauthorized and keeps its edits pending; with a
// token minted for its replica id (SetToken, Reconnect) it syncs; a write
// outside the token's rights is refused as forbidden and leaves pending.
func TestTokenAgainstAuthNode(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	cfg := node.DefaultConfig("auth", t.TempDir())
	cfg.SyncWrites = false
	cfg.Logger = quietLogger()
	n, err := node.Open(cfg)
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	srv := &http.Server{Handler: node.NewHTTPHandler(n, node.HTTPOptions{Logger: quietLogger(), Auth: node.NewAuthenticator(pub)})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})

	var errs errorLog
	c := openClient(t, Options{URLs: "http://" + ln.Addr().String(), OnError: &errs})
	must(t, c.Inc("auth/counter", "", 1))
	must(t, c.Inc("elsewhere/counter", "", 1))
	eventually(t, 10*time.Second, "the node refuses the session", func() (bool, string) {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		return slices.Contains(errs.errs, "unauthorized "), fmt.Sprint(errs.errs)
	})
	if err := c.Sync(10_000); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Sync without a token: %v, want ErrUnauthorized", err)
	}
	if c.Pending() != 2 {
		t.Fatalf("pending %d", c.Pending())
	}
	token, err := node.MintToken(priv, node.Claims{
		Replica: c.Replica(), Read: []string{"auth/"}, Write: []string{"auth/"},
		RegisteredClaims: jwt.RegisteredClaims{Subject: "test", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
	})
	must(t, err)
	c.SetToken(token)
	c.Reconnect()
	_, err = c.Subscribe("auth/counter", nil)
	must(t, err)
	mustSync(t, c, "with a token")
	if o, _ := n.Get("auth/counter"); o.Value() != int64(1) {
		t.Errorf("auth/counter on the node: %v", o.Value())
	}
	if o, _ := n.Get("elsewhere/counter"); o.Type() != 0 {
		t.Errorf("a write outside the token's rights landed: %v", o.Value())
	}
	// Errors reach the handler through the event dispatcher, which may
	// run behind Sync's return.
	eventually(t, 30*time.Second, "a forbidden error for elsewhere/counter", func() (bool, string) {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		return slices.Contains(errs.errs, "forbidden elsewhere/counter"), fmt.Sprint(errs.errs)
	})
}
