package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// runGossipKey makes gossip keys. Alone, it prints a new random key, for
// --gossip-key or a line of a --gossip-keyring file. With --gossip-keyring
// FILE it makes that file if it is missing, holding one new random key, and
// checks it and leaves it alone if it is there: so it can run before every
// start of a cluster (the `keys` service of docker-compose.yml does) and
// the key, made where it is used, is never printed. With --gossip-key too,
// FILE holds exactly that key: one's own key instead of a random one.
//
// It reads the same LATTICE_GOSSIP_KEYRING and LATTICE_GOSSIP_KEY as serve.
func runGossipKey(args []string) error {
	return gossipKeyCmd(args, os.Stdout, os.Stderr)
}

func gossipKeyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gossip-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyring := fs.String("gossip-keyring", "", "make this keyring file (mode 0600) with a new random key if it does not exist; if it does, check it and keep it; never print the key")
	key := fs.String("gossip-key", "", "with --gossip-keyring: the key the file must hold (base64 of 16, 24 or 32 bytes) instead of a random one; a file whose first key differs is replaced")
	if err := parseFlags(fs, args, "usage: lattice gossip-key [--gossip-keyring FILE [--gossip-key KEY]]\n\nWithout flags, print a new random gossip key (base64 of 32 bytes)."); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *keyring == "" {
		if *key != "" {
			return errors.New("--gossip-key needs --gossip-keyring: the file to write it to")
		}
		k, err := newGossipKey()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(k))
		return err
	}

	var want []byte // the key the file must start with; nil: any
	if *key != "" {
		k, err := gossipKey(*key)
		if err != nil {
			return err
		}
		want = k
	}
	have, err := readKeyring(*keyring)
	switch {
	case err == nil && (want == nil || slices.Equal(have[0], want)):
		fmt.Fprintf(stderr, "gossip keyring %s: kept (%d keys)\n", *keyring, len(have))
		return nil
	case err == nil:
		if err := writeKeyring(*keyring, want); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gossip keyring %s: replaced by the key of --gossip-key\n", *keyring)
		return nil
	case !errors.Is(err, os.ErrNotExist):
		// Not ours to overwrite: it may be someone's keyring with a typo.
		return fmt.Errorf("--gossip-keyring: %w", err)
	}
	how := "the key of --gossip-key"
	if want == nil {
		if want, err = newGossipKey(); err != nil {
			return err
		}
		how = "a new random key"
	}
	if err := writeKeyring(*keyring, want); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gossip keyring %s: made, with %s\n", *keyring, how)
	return nil
}

// newGossipKey returns 32 random bytes: an AES-256 key for memberlist.
func newGossipKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// writeKeyring makes path a keyring file of the one key, mode 0600: written
// beside it and renamed over it, so a reader never sees half a file.
func writeKeyring(path string, key []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gossip-keyring-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	text := "# gossip keyring (lattice serve --gossip-keyring): one base64 key a line,\n" +
		"# the first encrypts and all are accepted; SIGHUP makes a node reread it.\n" +
		base64.StdEncoding.EncodeToString(key) + "\n"
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
