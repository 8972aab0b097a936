package node

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
	"github.com/lattice-sync/lattice/internal/testkit"
	"github.com/lattice-sync/lattice/transport"
)

// TestHotAnswersHoldOwnWriteAndMatchStore: REST writers on two nodes add
// to shared sets and set fields of shared maps, concurrently, while peers'
// deltas join the same objects. Every answer holds its own write, and once
// the nodes have converged every object kept in memory equals what Badger
// holds.
func TestHotAnswersHoldOwnWriteAndMatchStore(t *testing.T) {
	seed := testkit.Seed(t)
	mem := transport.NewMemNetwork()
	var nodes []*Node
	for i := 0; i < 2; i++ {
		n, err := Open(testConfig(t, fmt.Sprintf("n%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Attach(mem.Add(n.Name())); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	const writers, writes = 6, 60
	keys := []string{"s/0", "s/1", "m/0", "m/1"}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := testkit.Rand(seed, uint64(w))
			n := nodes[w%2]
			for i := 0; i < writes; i++ {
				key := keys[rng.IntN(len(keys))]
				mine := fmt.Sprintf("w%d-%d", w, i)
				op := crdt.Op{Type: crdt.TypeORSet, Kind: crdt.OpAdd, Value: crdt.String(mine)}
				if key[0] == 'm' {
					op = crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{mine}, Value: crdt.MustInt(int64(i))}
				}
				a, err := n.st.ApplyAndRead(context.Background(), key, op)
				if err != nil {
					t.Error(err)
					return
				}
				if !holds(a.Value, mine) {
					t.Errorf("seed %d: %s's answer for %s lacks its own write %s: %v", seed, n.Name(), key, mine, a.Value)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitConverged(t, 30*time.Second, nodes...)
	for _, n := range nodes {
		for _, k := range keys {
			tp, v, ok := n.st.HotView(k)
			if !ok {
				continue // evicted or never kept: nothing to compare
			}
			o, err := n.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			if tp != o.Type() || !reflect.DeepEqual(v, o.Value()) {
				t.Fatalf("seed %d: %s keeps %s as %v, Badger holds %v", seed, n.Name(), k, v, o.Value())
			}
		}
	}
}

func holds(v any, mine string) bool {
	if raw, ok := v.(json.RawMessage); ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			return false
		}
	}
	switch x := v.(type) {
	case []any:
		return slices.Contains(x, any(mine))
	case map[string]any:
		_, ok := x[mine]
		return ok
	}
	return false
}
