package lattice

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// presenceLog records what OnPresence heard.
type presenceLog struct {
	mu    sync.Mutex
	heard []string
}

func (l *presenceLog) OnPresence(key, conn, replica, state string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heard = append(l.heard, key+" "+replica+" "+state)
}

func (l *presenceLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heard) == 0 {
		return ""
	}
	return l.heard[len(l.heard)-1]
}

// TestPresenceAcrossNodes: a Go client's presence reaches a Go client on
// another node, is sent again after a reconnect, and is gone once its
// client closes.
func TestPresenceAcrossNodes(t *testing.T) {
	cl := newCluster(t, 2, nil)
	seen := &presenceLog{}
	a := openClient(t, Options{Dir: t.TempDir(), URLs: cl.urls(0)})
	b := openClient(t, Options{Dir: t.TempDir(), URLs: cl.urls(1), OnPresence: seen})
	_, err := b.Subscribe("card/1", nil)
	must(t, err)
	mustSync(t, b, "b online")
	if err := a.SetPresence("card/1", `"not an object"`); err == nil {
		t.Fatal("a string state was accepted")
	}
	must(t, a.InsertText("card/1", "text", 0, "hello"))
	cursor := a.Anchor("card/1", "text", 3)
	if got := a.AnchorIndex("card/1", "text", cursor); got != 3 {
		t.Fatalf("anchor %s reads back as %d, want 3", cursor, got)
	}
	must(t, a.SetPresence("card/1", `{"name":"ann","cursor":3}`))
	mustSync(t, a, "a online")
	want := "card/1 " + a.Replica() + ` {"name":"ann","cursor":3}`
	eventually(t, 20*time.Second, "b hears a's presence", func() (bool, string) {
		return seen.last() == want, seen.last()
	})
	if p := b.Presence("card/1"); !strings.Contains(p, `"name":"ann"`) {
		t.Fatalf("Presence: %s", p)
	}
	// A new connection: the state is sent again. The old connection's
	// state going and the new one's coming are two events of two
	// connections, heard in either order (the node may notice the old
	// connection closed after the new one published): b must hear both and
	// end up holding the state.
	seen.mu.Lock()
	before := len(seen.heard)
	seen.mu.Unlock()
	a.Reconnect()
	gone := "card/1 " + a.Replica() + " null"
	eventually(t, 20*time.Second, "b hears a's presence go and come back as a reconnects", func() (bool, string) {
		seen.mu.Lock()
		after := slices.Clone(seen.heard[before:])
		seen.mu.Unlock()
		return slices.Contains(after, gone) && slices.Contains(after, want) && strings.Contains(b.Presence("card/1"), "ann"), strings.Join(after, "; ")
	})
	must(t, a.Close())
	eventually(t, 20*time.Second, "a's presence gone", func() (bool, string) {
		return seen.last() == "card/1 "+a.Replica()+" null" && b.Presence("card/1") == "[]", seen.last()
	})
}
