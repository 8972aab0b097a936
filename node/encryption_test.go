package node

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// TestEncryptionAtRest: data written with a key reads back with it, and
// neither without a key nor with another; the files hold no plain value.
func TestEncryptionAtRest(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	cfg := testConfig(t, "enc")
	cfg.SyncWrites = true
	cfg.EncryptionKey = key
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "the-secret-value-0123456789"
	op := crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Value: crdt.String(secret)}
	if _, err := n.Apply(t.Context(), "k", op); err != nil {
		t.Fatal(err)
	}
	want, _, err := n.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(cfg.Dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the value in plain text", p)
			}
		}
		return nil
	})

	n, err = Open(cfg)
	if err != nil {
		t.Fatalf("reopening with the key: %v", err)
	}
	got, _, err := n.Digest()
	n.Close()
	if err != nil || got != want {
		t.Fatalf("with the key: digest %s (%v), want %s", got, err, want)
	}
	noKey := cfg
	noKey.EncryptionKey = nil
	if n, err := Open(noKey); err == nil {
		n.Close()
		t.Fatal("an encrypted directory opened without its key")
	}
	other := cfg
	other.EncryptionKey = make([]byte, 32)
	if n, err := Open(other); err == nil {
		n.Close()
		t.Fatal("an encrypted directory opened with another key")
	}
	bad := cfg
	bad.EncryptionKey = []byte("short")
	if _, err := Open(bad); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
}
