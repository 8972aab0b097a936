package lattice

import (
	"encoding/json"
	"testing"
)

// TestSubSaysEmpty: a sub says "empty" exactly when the client holds no
// object and no pending delta under its target and its cursor does not
// vouch for it (docs/protocol.md, "sub"): a node then leaves folded
// counter writers' context entries out of its first snapshot, which would
// make a copy's raw entry of such a writer count twice.
func TestSubSaysEmpty(t *testing.T) {
	c := openClient(t, Options{})
	if err := c.Inc("b/x", "", 1); err != nil { // pending under b/x and b/
		t.Fatal(err)
	}
	targets := map[string]bool{ // target -> empty
		prefixTarget("a/"): true,
		keyTarget("b/x"):   false,
		prefixTarget("b/"): false,
		prefixTarget(""):   false,
		keyTarget("c"):     false, // synced: the cursor vouches for it
		keyTarget("d"):     true,
	}
	c.mu.Lock()
	for tg := range targets {
		c.subs[tg] = &subEntry{target: tg}
	}
	c.synced[keyTarget("c")] = true
	c.mu.Unlock()
	// A node whose welcome does not list empty_sub (an older one refuses
	// the field) is never sent it.
	for _, empties := range []bool{true, false} {
		c.mu.Lock()
		cn := &conn{c: c, welcomed: true, empties: empties, subs: map[uint64]string{}, subIDs: map[string]uint64{}}
		c.conn = cn
		c.mu.Unlock()
		owed := cn.owed()
		c.mu.Lock()
		c.conn = nil // no network behind it for Close to drop
		c.mu.Unlock()
		seen := 0
		for _, b := range owed {
			var m subMsg
			if err := json.Unmarshal(b, &m); err != nil || m.T != "sub" {
				continue
			}
			tg := keyTarget("")
			if m.Key != nil {
				tg = keyTarget(*m.Key)
			} else {
				tg = prefixTarget(*m.Prefix)
			}
			if want := targets[tg] && empties; m.Empty != want {
				t.Errorf("empty_sub listed %v: sub of %q says empty %v, want %v (%s)", empties, tg, m.Empty, want, b)
			}
			seen++
		}
		if seen != len(targets) {
			t.Fatalf("%d subs, want %d", seen, len(targets))
		}
	}
}
