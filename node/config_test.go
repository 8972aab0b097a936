package node

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestOpenRefusesBadConfig: a config out of range is refused by Open with
// the field named, before the data directory is touched.
func TestOpenRefusesBadConfig(t *testing.T) {
	for name, c := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"negative sync fanout": {func(c *Config) { c.SyncFanout = -1 }, "SyncFanout -1 must not be negative"},
		"no anti-entropy":      {func(c *Config) { c.AntiEntropyInterval = 0 }, "AntiEntropyInterval"},
		"empty batches":        {func(c *Config) { c.MaxBatch = 0 }, "MaxBatch 0 must be positive"},
		"no log retention":     {func(c *Config) { c.LogRetention = 0 }, "LogRetention must be positive"},
		"negative unseen wait": {func(c *Config) { c.UnseenDotsWait = -time.Second }, "UnseenDotsWait"},
		"short encryption key": {func(c *Config) { c.EncryptionKey = []byte("short") }, "EncryptionKey is 5 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, "n")
			cfg.Dir = t.TempDir() + "/data"
			c.change(&cfg)
			n, err := Open(cfg)
			if err == nil {
				n.Close()
				t.Fatalf("opened with a bad config")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if _, err := os.Stat(cfg.Dir); !os.IsNotExist(err) {
				t.Fatalf("the data directory was touched: %v", err)
			}
		})
	}
	// Zero asks every reachable peer: valid.
	cfg := testConfig(t, "n")
	cfg.SyncFanout = 0
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}
