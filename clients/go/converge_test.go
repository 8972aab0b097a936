package lattice

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-sync/lattice/crdt"
)

// randomEdit makes one random edit on c under prefix and returns what it
// adds to the counter, so the test knows the counter's final value. Each
// key and map field keeps one type, so no edit is refused.
func randomEdit(t *testing.T, c *Client, rng *rand.Rand, prefix string) int64 {
	t.Helper()
	elems := []string{`"milk"`, `"eggs"`, `"bread"`, `1`, `true`}
	cards := []string{"c1", "c2", "c3"}
	var err error
	var counted int64
	switch rng.IntN(11) {
	case 0:
		by := rng.Int64N(5) + 1
		if rng.IntN(3) == 0 {
			by = -by
		}
		err, counted = c.Inc(prefix+"counter", "", by), by
	case 1:
		err = c.Add(prefix+"set", "", elems[rng.IntN(len(elems))])
	case 2:
		err = c.Remove(prefix+"set", "", elems[rng.IntN(len(elems))])
	case 3:
		err = c.Set(prefix+"board", "cards/"+cards[rng.IntN(3)]+"/title", JSONString(fmt.Sprintf("t%d", rng.IntN(100))))
	case 4:
		err = c.Inc(prefix+"board", "cards/"+cards[rng.IntN(3)]+"/votes", 1)
	case 5:
		err = c.Add(prefix+"board", "cards/"+cards[rng.IntN(3)]+"/tags", elems[rng.IntN(2)])
	case 6:
		if rng.IntN(2) == 0 {
			err = c.Enable(prefix+"flag", "")
		} else {
			err = c.Disable(prefix+"flag", "")
		}
	case 7:
		err = c.SetMV(prefix+"mv", "", fmt.Sprint(rng.IntN(10)))
	case 8:
		if rng.IntN(4) == 0 {
			err = c.Delete(prefix+"board", "cards/"+cards[rng.IntN(3)])
		} else {
			err = c.Set(prefix+"title", "", JSONString(fmt.Sprintf("v%d", rng.IntN(100))))
		}
	case 9, 10:
		// Collaborative text: the shared note and a card's text.
		key, path := prefix+"note", ""
		if rng.IntN(2) == 0 {
			key, path = prefix+"board", "cards/"+cards[rng.IntN(3)]+"/text"
		}
		n := len([]rune(c.Text(key, path)))
		if n > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(n)
			err = c.DeleteText(key, path, i, 1+rng.IntN(min(3, n-i)))
		} else {
			err = c.InsertText(key, path, rng.IntN(n+1), []string{"a", "é", "😀", "typed "}[rng.IntN(4)])
		}
	}
	if err != nil {
		t.Fatalf("edit: %v", err)
	}
	return counted
}

// TestOfflineClientsConverge: two Go clients edit offline while a node
// takes writes too; they come back on other nodes than before, and every
// node, both clients and the JavaScript client end with byte-identical
// states.
func TestOfflineClientsConverge(t *testing.T) {
	rng := testSeed(t)
	cl := newCluster(t, 3, nil)
	const prefix = "shared/"
	dirA, dirB := t.TempDir(), t.TempDir()
	a := openClient(t, Options{Dir: dirA, URLs: cl.urls(0)})
	b := openClient(t, Options{Dir: dirB, URLs: cl.urls(1)})
	for _, c := range []*Client{a, b} {
		_, err := c.SubscribePrefix(prefix, nil)
		must(t, err)
	}
	var counter int64
	counter += randomEdit(t, a, rng, prefix)
	mustSync(t, a, "a online")
	mustSync(t, b, "b online")

	a.SetOffline(true)
	b.SetOffline(true)
	for i := 0; i < 60; i++ {
		counter += randomEdit(t, a, rng, prefix)
		counter += randomEdit(t, b, rng, prefix)
		if i%10 == 0 { // the cluster moves on meanwhile
			if _, err := cl.nodes[2].node().Apply(context.Background(), prefix+"counter", crdt.Op{Type: crdt.TypePNCounter, Kind: crdt.OpInc, By: 10}); err != nil {
				t.Fatal(err)
			}
			counter += 10
		}
	}
	if a.Pending() == 0 || b.Pending() == 0 || a.Pending() > 8 || b.Pending() > 8 {
		t.Fatalf("pending a %d, b %d: want offline edits joined into one delta per key", a.Pending(), b.Pending())
	}
	// Both apps restart later, each reaching another node than before.
	must(t, a.Close())
	must(t, b.Close())
	a = openClient(t, Options{Dir: dirA, URLs: cl.urls(2, 0)})
	b = openClient(t, Options{Dir: dirB, URLs: cl.urls(0, 1)})
	for _, c := range []*Client{a, b} {
		_, err := c.SubscribePrefix(prefix, nil)
		must(t, err)
	}
	mustSync(t, a, "a back")
	mustSync(t, b, "b back")
	if a.Node() != "n2" || b.Node() != "n0" {
		t.Fatalf("a on %s, b on %s; want n2 and n0", a.Node(), b.Node())
	}
	for name, c := range map[string]*Client{"a": a, "b": b} {
		c.mu.Lock()
		st := c.stats
		c.mu.Unlock()
		if st.catchups == 0 {
			t.Errorf("%s resumed with %+v: want a catch-up from its cursor", name, st)
		}
	}
	var want map[string]string
	eventually(t, 20*time.Second, "nodes and clients converge", func() (bool, string) {
		want = canonicalOf(t, cl.nodes[0].node(), prefix)
		views := map[string]map[string]string{
			"n1": canonicalOf(t, cl.nodes[1].node(), prefix),
			"n2": canonicalOf(t, cl.nodes[2].node(), prefix),
			"a":  clientCanonical(a, prefix),
			"b":  clientCanonical(b, prefix),
		}
		for name, v := range views {
			if !sameMaps(want, v) {
				return false, fmt.Sprintf("%s differs from n0:\n%v\n%v", name, v, want)
			}
		}
		return true, ""
	})
	if v, _ := a.Get(prefix + "counter"); v != fmt.Sprint(counter) {
		t.Errorf("counter %s, want %d", v, counter)
	}
	js := jsView(t, cl.nodes[1].url(), prefix)
	if !sameMaps(want, js) {
		t.Fatalf("the JavaScript client differs:\n%v\nwant\n%v", js, want)
	}
	var keys []string
	for k := range want {
		v, _ := a.Get(k)
		keys = append(keys, k+"="+v)
	}
	t.Logf("converged: %s", strings.Join(keys, " "))
}

// textEditor is an editor's buffer kept in step only through
// OnTextChange: what a UI would do.
type textEditor struct {
	mu   sync.Mutex
	path string
	buf  []rune
}

func (e *textEditor) OnChange(string, string, bool) {}

func (e *textEditor) OnTextChange(_, changes string, _ bool) {
	var cs []crdt.TextChange
	if err := json.Unmarshal([]byte(changes), &cs); err != nil {
		panic(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range cs {
		if strings.Join(ch.Path, "/") != e.path {
			continue
		}
		for _, ed := range ch.Edits {
			e.buf = slices.Concat(e.buf[:ed.Index], []rune(ed.Insert), e.buf[ed.Index+ed.Delete:])
		}
	}
}

func (e *textEditor) text() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return string(e.buf)
}

// TestTextTypedOnTwoNodes: two clients on two nodes type into one card's
// text at once, cut off from each other; both runs survive whole once they
// reconnect, and each client's text change events rebuild the text an
// editor shows.
func TestTextTypedOnTwoNodes(t *testing.T) {
	cl := newCluster(t, 2, nil)
	a := openClient(t, Options{Dir: t.TempDir(), URLs: cl.urls(0)})
	b := openClient(t, Options{Dir: t.TempDir(), URLs: cl.urls(1)})
	ea, eb := &textEditor{path: "text"}, &textEditor{path: "text"}
	_, err := a.Subscribe("card/1", ea)
	must(t, err)
	_, err = b.Subscribe("card/1", eb)
	must(t, err)
	mustSync(t, a, "a online")
	mustSync(t, b, "b online")
	must(t, a.InsertText("card/1", "text", 0, "[]"))
	eventually(t, 20*time.Second, "b has the text", func() (bool, string) {
		return b.Text("card/1", "text") == "[]", b.Text("card/1", "text")
	})
	a.SetOffline(true)
	b.SetOffline(true)
	for i, r := range "Hello" {
		must(t, a.InsertText("card/1", "text", 1+i, string(r)))
	}
	for i, r := range "World" {
		must(t, b.InsertText("card/1", "text", 1+i, string(r)))
	}
	a.SetOffline(false)
	b.SetOffline(false)
	eventually(t, 20*time.Second, "both texts and editors agree", func() (bool, string) {
		ta, tb := a.Text("card/1", "text"), b.Text("card/1", "text")
		ok := ta == tb && len(ta) == len("[HelloWorld]") && ea.text() == ta && eb.text() == tb
		return ok, fmt.Sprintf("a %q b %q, editors %q %q", ta, tb, ea.text(), eb.text())
	})
	if got := a.Text("card/1", "text"); got != "[HelloWorld]" && got != "[WorldHello]" {
		t.Fatalf("text %q interleaves the runs", got)
	}
}

// listView is an app's array kept in step only through OnListChange.
type listView struct {
	mu   sync.Mutex
	path string
	vals []string // JSON
}

func (l *listView) OnChange(string, string, bool) {}

func (l *listView) OnListChange(_, changes string, _ bool) {
	var cs []struct {
		Path  []string
		Edits []struct {
			Op                     string
			Index, Count, From, To int
			Value                  json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(changes), &cs); err != nil {
		panic(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range cs {
		if strings.Join(ch.Path, "/") != l.path {
			continue
		}
		for _, e := range ch.Edits {
			switch e.Op {
			case "insert":
				l.vals = slices.Insert(l.vals, e.Index, string(e.Value))
			case "delete":
				l.vals = slices.Delete(l.vals, e.Index, e.Index+e.Count)
			case "move":
				x := l.vals[e.From]
				l.vals = slices.Insert(slices.Delete(l.vals, e.From, e.From+1), e.To, x)
			case "set":
				l.vals[e.Index] = string(e.Value)
			}
		}
	}
}

func (l *listView) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "[" + strings.Join(l.vals, ",") + "]"
}

// TestListMovedOnTwoNodes: two clients on two nodes reorder one column
// while cut off from each other, one moving a card, the other inserting,
// deleting and renaming a card by index; after they reconnect both hold
// the same column, and each client's list change events rebuild it.
func TestListMovedOnTwoNodes(t *testing.T) {
	cl := newCluster(t, 2, nil)
	a := openClient(t, Options{Dir: t.TempDir(), URLs: cl.urls(0)})
	b := openClient(t, Options{Dir: t.TempDir(), URLs: cl.urls(1)})
	la, lb := &listView{path: "todo"}, &listView{path: "todo"}
	_, err := a.Subscribe("board/1", la)
	must(t, err)
	_, err = b.Subscribe("board/1", lb)
	must(t, err)
	mustSync(t, a, "a online")
	mustSync(t, b, "b online")
	for i, title := range []string{"one", "two", "three"} {
		must(t, a.InsertItem("board/1", "todo", i, fmt.Sprintf(`{"title":%q}`, title)))
	}
	column := func(c *Client) string {
		v, _ := c.Get("board/1")
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(v), &m)
		return string(m["todo"])
	}
	eventually(t, 20*time.Second, "b has the column", func() (bool, string) {
		return column(b) == column(a), column(b)
	})
	a.SetOffline(true)
	b.SetOffline(true)
	must(t, a.MoveItem("board/1", "todo", 0, 2))
	must(t, b.InsertItem("board/1", "todo", 1, `"note"`))
	must(t, b.Apply("board/1", `{"type":"lww","op":"set","path":["todo",0,"title"],"value":"ONE"}`))
	must(t, b.DeleteItems("board/1", "todo", 2, 1))
	a.SetOffline(false)
	b.SetOffline(false)
	// "note" was put after card one's old place, which its move left.
	want := `["note",{"title":"three"},{"title":"ONE"}]`
	eventually(t, 20*time.Second, "both columns and views agree", func() (bool, string) {
		ca, cb := column(a), column(b)
		return ca == want && cb == want && la.String() == want && lb.String() == want,
			fmt.Sprintf("a %s b %s, views %s %s", ca, cb, la, lb)
	})
}
