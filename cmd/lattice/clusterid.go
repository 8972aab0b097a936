package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// clusterIDFile is the file of a node's data directory (and of the demo's)
// that holds the cluster id the data belongs to.
const clusterIDFile = "cluster-id"

// settleClusterID is the cluster id a node keeping its data in dir runs
// under: want if given, recorded in dir the first time and refused if dir
// belongs to another cluster; else what dir holds; else fallback, recorded
// too; else "" (none reported, clients do not check).
func settleClusterID(dir, want, fallback string) (string, error) {
	path := filepath.Join(dir, clusterIDFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if want == "" {
			want = fallback
		}
		if want == "" {
			return "", nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(want+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("recording the cluster id: %w", err)
		}
		return want, nil
	case err != nil:
		return "", fmt.Errorf("reading the cluster id: %w", err)
	}
	have := strings.TrimSpace(string(b))
	if want != "" && have != want {
		return "", fmt.Errorf("--cluster-id %q: the data in %s belongs to cluster %q (%s); use another --data", want, dir, have, path)
	}
	return have, nil
}

// demoClusterID is the demo's cluster id, made once per data directory:
// a new demo (--fresh, or another --data) is a new cluster, and replicas
// that synced with the old one refuse it.
func demoClusterID(dir string) (string, error) {
	return settleClusterID(dir, "", "demo-"+uuid.NewString()[:8])
}

// keyClusterID derives a cluster id from the primary gossip key, for nodes
// started without --cluster-id: the nodes of one cluster share that key,
// and a new cluster (compose's `down -v`, then `up`) gets a new one. The
// hash tells nothing of the key. Recorded in the data directory at the
// first start, it outlives a key rotation.
func keyClusterID(gossipKeys [][]byte) string {
	if len(gossipKeys) == 0 {
		return ""
	}
	h := sha256.Sum256(append([]byte("lattice cluster id\x00"), gossipKeys[0]...))
	return "k-" + hex.EncodeToString(h[:6])
}
