package transport

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestMemberlistWrongKeyOrLabelCannotJoin: a node whose gossip key or
// label differs from the cluster's, or that has no key at all, cannot
// join, and the cluster does not see it.
func TestMemberlistWrongKeyOrLabelCannotJoin(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	cfg := func(name string, key []byte, label string) MemberlistConfig {
		c := testConfig(name)
		c.SecretKey, c.Label = key, label
		return c
	}
	ms, _ := startCluster(t, nil, cfg("a", key, "lattice"), cfg("b", key, "lattice"))
	for _, tc := range []struct {
		name string
		cfg  MemberlistConfig
	}{
		{"wrong key", cfg("x1", bytes.Repeat([]byte{2}, 32), "lattice")},
		{"wrong label", cfg("x2", key, "other")},
		{"no key", cfg("x3", nil, "lattice")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := NewMemberlist(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = x.Close() })
			if err := x.Start(&recorder{}); err != nil {
				t.Fatal(err)
			}
			if n, err := x.Join([]string{ms[0].GossipAddr()}); err == nil && n > 0 {
				t.Fatalf("joined, %d answered", n)
			}
			time.Sleep(500 * time.Millisecond) // a few gossip rounds
			for _, m := range ms {
				if _, ok := peerState(m.Peers(), tc.cfg.Name); ok {
					t.Fatalf("%s sees %s", m.LocalName(), tc.cfg.Name)
				}
			}
			if len(x.Peers()) != 0 {
				t.Fatalf("%s sees %v", tc.cfg.Name, x.Peers())
			}
		})
	}
}

// TestMemberlistKeyRotation rotates a live three-node cluster's gossip key
// in SetKeys's three rounds, node by node, checking after every single
// change that each node still reaches and hears every other. At the end a
// node with the old key cannot join and one with the new key can.
func TestMemberlistKeyRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{3}, 32)
	cfg := func(name string, key []byte) MemberlistConfig {
		c := testConfig(name)
		c.SecretKey, c.Label = key, "lattice"
		return c
	}
	ms, rs := startCluster(t, nil, cfg("a", oldKey), cfg("b", oldKey), cfg("c", oldKey))
	round := 0
	together := func(step string) {
		t.Helper()
		round++
		for i, m := range ms {
			for j, o := range ms {
				if i == j {
					continue
				}
				if !reachable(m, o.LocalName()) {
					t.Fatalf("%s: %s does not reach %s", step, m.LocalName(), o.LocalName())
				}
				payload := fmt.Sprintf("%d:%s->%s", round, m.LocalName(), o.LocalName())
				if err := m.Send(o.LocalName(), []byte(payload)); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				eventually(t, 10*time.Second, func() bool {
					for _, p := range rs[j].payloadsFrom(m.LocalName()) {
						if p == payload {
							return true
						}
					}
					return false
				}, "%s: %s did not hear %s", step, o.LocalName(), m.LocalName())
			}
		}
	}
	together("before")
	for _, step := range []struct {
		name string
		keys [][]byte
	}{
		{"install the new key", [][]byte{oldKey, newKey}},
		{"send with the new key", [][]byte{newKey, oldKey}},
		{"remove the old key", [][]byte{newKey}},
	} {
		for _, m := range ms {
			if err := m.SetKeys(step.keys); err != nil {
				t.Fatal(err)
			}
			together(step.name + " on " + m.LocalName())
		}
		time.Sleep(300 * time.Millisecond) // probes and gossip under the new keys
		together(step.name + ", settled")
	}
	for _, m := range ms {
		if m.KeyCount() != 1 {
			t.Fatalf("%s holds %d keys", m.LocalName(), m.KeyCount())
		}
	}

	stale, err := NewMemberlist(cfg("stale", oldKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stale.Close() })
	if err := stale.Start(&recorder{}); err != nil {
		t.Fatal(err)
	}
	if n, err := stale.Join([]string{ms[0].GossipAddr()}); err == nil && n > 0 {
		t.Fatal("a node with the retired key joined")
	}
	fresh, err := NewMemberlist(cfg("fresh", newKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	if err := fresh.Start(&recorder{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Join([]string{ms[0].GossipAddr()}); err != nil {
		t.Fatalf("a node with the new key cannot join: %v", err)
	}
	eventually(t, 10*time.Second, func() bool { return reachable(ms[2], "fresh") }, "c never saw fresh")

	plain, err := NewMemberlist(testConfig("plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.SetKeys([][]byte{newKey}); err != ErrNoEncryption {
		t.Fatalf("SetKeys without encryption: %v", err)
	}
}
