package lattice

import (
	"strings"
	"testing"
)

// TestCursorKeepingRules checks adoptCursorLocked against the rules of
// docs/protocol.md, "Which cursor to keep", on a client with no network.
func TestCursorKeepingRules(t *testing.T) {
	c := openClient(t, Options{})
	a, b := prefixTarget("a/"), keyTarget("b")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs[a] = &subEntry{target: a}
	c.subs[b] = &subEntry{target: b}
	cn := &conn{answered: map[string]bool{}}
	adopt := func(seq uint64) bool {
		var bt batch
		before := c.cursor
		c.adoptCursorLocked(cn, map[string]uint64{"n": seq}, &bt)
		return c.cursor["n"] == seq && (before == nil || before["n"] != seq)
	}
	// A session with nothing answered yet and nothing synced: a cursor
	// speaks for no subscription, and keeping it is harmless.
	if !adopt(1) || len(c.synced) != 0 {
		t.Fatalf("first cursor: %v synced %v", c.cursor, c.synced)
	}
	cn.answered[a] = true
	if !adopt(2) || !c.synced[a] || c.synced[b] {
		t.Fatalf("after a's answer: cursor %v synced %v", c.cursor, c.synced)
	}
	// A new session: a is synced but not answered on it yet, so no cursor
	// from it may be kept (it would skip what a missed).
	cn = &conn{answered: map[string]bool{}}
	cn.answered[b] = true
	if adopt(3) {
		t.Fatal("kept a cursor while a, which it would resume, was unanswered")
	}
	cn.answered[a] = true
	if !adopt(4) || !c.synced[a] || !c.synced[b] {
		t.Fatalf("both answered: cursor %v synced %v", c.cursor, c.synced)
	}
	// A resync makes a unanswered until its snapshot is done.
	cn.answered[a] = false
	if adopt(5) {
		t.Fatal("kept a cursor between resync and snapshot")
	}
	cn.answered[a] = true
	if !adopt(6) {
		t.Fatal("no cursor after the resync's snapshot")
	}
	// An unsubscribed target drops out of what the cursor speaks for.
	delete(c.subs, b)
	if !adopt(7) || c.synced[b] || !c.synced[a] {
		t.Fatalf("after unsubscribing b: synced %v", c.synced)
	}
	// hello carries the cursor only when it speaks for some target.
	if m := string(c.helloLocked("")); !strings.Contains(m, `"cursor":{"n":7}`) {
		t.Fatalf("hello %s lacks the cursor", m)
	}
	c.synced = map[string]bool{}
	if m := string(c.helloLocked("")); strings.Contains(m, "cursor") {
		t.Fatalf("hello %s carries a cursor that speaks for nothing", m)
	}
}
