package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGossipKeyCommand: lattice gossip-key prints a fresh key; with
// --gossip-keyring it makes a keyring serve accepts, keeps it on later runs,
// never prints the key, takes one's own key from --gossip-key, and refuses
// to overwrite a file it cannot read as a keyring.
func TestGossipKeyCommand(t *testing.T) {
	// The command reads serve's variables; the test's environment must not.
	t.Setenv("LATTICE_GOSSIP_KEY", "")
	t.Setenv("LATTICE_GOSSIP_KEYRING", "")
	run := func(args ...string) (stdout, stderr string, err error) {
		var o, e bytes.Buffer
		err = gossipKeyCmd(args, &o, &e)
		return o.String(), e.String(), err
	}

	out, _, err := run()
	if err != nil {
		t.Fatal(err)
	}
	k1, err := gossipKey(strings.TrimSpace(out))
	if err != nil || len(k1) != 32 {
		t.Fatalf("printed %q: %d bytes, %v", out, len(k1), err)
	}
	out2, _, _ := run()
	if out2 == out {
		t.Fatal("two runs printed the same key")
	}

	file := filepath.Join(t.TempDir(), "gossip.keyring")
	out, errOut, err := run("--gossip-keyring", file)
	if err != nil || out != "" || !strings.Contains(errOut, "made, with a new random key") {
		t.Fatalf("make: err %v, stdout %q, stderr %q", err, out, errOut)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode %v, want 0600", fi.Mode().Perm())
	}
	keys, err := readKeyring(file)
	if err != nil || len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("keyring: %d keys, %v", len(keys), err)
	}
	made := base64.StdEncoding.EncodeToString(keys[0])
	if strings.Contains(out+errOut, made) {
		t.Error("the key made for the keyring was printed")
	}
	before, _ := os.ReadFile(file)

	// Again, as on every `compose up`: kept as it is.
	if _, errOut, err = run("--gossip-keyring", file); err != nil || !strings.Contains(errOut, "kept (1 keys)") {
		t.Fatalf("rerun: err %v, stderr %q", err, errOut)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatal("a rerun changed the keyring")
	}

	// One's own key, through the environment as compose passes it.
	own := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	t.Setenv("LATTICE_GOSSIP_KEY", own)
	t.Setenv("LATTICE_GOSSIP_KEYRING", file)
	if _, errOut, err = run(); err != nil || !strings.Contains(errOut, "replaced") || strings.Contains(errOut, own) {
		t.Fatalf("own key: err %v, stderr %q", err, errOut)
	}
	if keys, err = readKeyring(file); err != nil || len(keys) != 1 || base64.StdEncoding.EncodeToString(keys[0]) != own {
		t.Fatalf("after --gossip-key: %d keys, %v", len(keys), err)
	}
	if _, errOut, err = run(); err != nil || !strings.Contains(errOut, "kept") {
		t.Fatalf("own key again: err %v, stderr %q", err, errOut)
	}
	t.Setenv("LATTICE_GOSSIP_KEY", "")
	t.Setenv("LATTICE_GOSSIP_KEYRING", "")
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("temporary files left beside the keyring: %v", entries)
	}

	// A rotation in progress (two keys) is kept too.
	two := own + "\n" + made + "\n"
	if err := os.WriteFile(file, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err = run("--gossip-keyring", file); err != nil || !strings.Contains(errOut, "kept (2 keys)") {
		t.Fatalf("two keys: err %v, stderr %q", err, errOut)
	}

	// Refused: a file that is no keyring, a bad key, a key with nowhere to go.
	bad := filepath.Join(t.TempDir(), "typo.keyring")
	if err := os.WriteFile(bad, []byte("not base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err = run("--gossip-keyring", bad); err == nil {
		t.Error("a file that is no keyring was accepted")
	}
	if b, _ := os.ReadFile(bad); string(b) != "not base64!\n" {
		t.Error("a file that is no keyring was overwritten")
	}
	if _, _, err = run("--gossip-keyring", filepath.Join(t.TempDir(), "k"), "--gossip-key", "c2hvcnQ="); err == nil {
		t.Error("a 5-byte --gossip-key was accepted")
	}
	if _, _, err = run("--gossip-key", own); err == nil {
		t.Error("--gossip-key without --gossip-keyring was accepted")
	}
}
