package api

import (
	crand "crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lattice-sync/lattice/node/store"
	"pgregory.net/rapid"
)

// presenceRecorder replays what a listener is told onto a map of its own.
type presenceRecorder struct {
	states map[string]map[string]string // key -> conn -> state
}

func (r *presenceRecorder) presenceChanged(p Presence) {
	if p.gone() {
		delete(r.states[p.Key], p.Conn)
		if len(r.states[p.Key]) == 0 {
			delete(r.states, p.Key)
		}
		return
	}
	if r.states[p.Key] == nil {
		r.states[p.Key] = map[string]string{}
	}
	r.states[p.Key][p.Conn] = string(p.State)
}

func (r *presenceRecorder) presenceConfirm() {}

type presenceModelItem struct {
	state string
	local bool
}

// TestPresenceIndexProperty: under any sequence of publishes, peers'
// states, closed connections and expiries, the table's indexes (by
// connection, keys in order) agree with its states, every lookup answers
// what a walk over everything would, and a listener told of the changes in
// order holds what the table holds.
func TestPresenceIndexProperty(t *testing.T) {
	keys := []string{"a", "a/1", "a/2", "ab", "b/1"}
	prefixes := []string{"", "a", "a/", "ab", "b", "c"}
	locals := []string{"n/x.1", "n/x.2", "n/x.3"}
	peers := []string{"p/y.1", "p/y.2"}
	rapid.Check(t, func(rt *rapid.T) {
		tab := newTestPresenceTable()
		rec := &presenceRecorder{states: map[string]map[string]string{}}
		tab.listen(rec)
		model := map[string]map[string]presenceModelItem{}
		set := func(key, conn, state string, local bool) {
			if state == "null" {
				delete(model[key], conn)
				if len(model[key]) == 0 {
					delete(model, key)
				}
				return
			}
			if model[key] == nil {
				model[key] = map[string]presenceModelItem{}
			}
			model[key][conn] = presenceModelItem{state, local}
		}
		stateGen := rapid.SampledFrom([]string{"null", `{"v":1}`, `{"v":2}`})
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0:
				p := Presence{Key: rapid.SampledFrom(keys).Draw(rt, "key"), Conn: rapid.SampledFrom(locals).Draw(rt, "conn"), Replica: "r", State: json.RawMessage(stateGen.Draw(rt, "state"))}
				tab.Publish(p)
				set(p.Key, p.Conn, string(p.State), true)
			case 1:
				p := Presence{Key: rapid.SampledFrom(keys).Draw(rt, "key"), Conn: rapid.SampledFrom(peers).Draw(rt, "conn"), Replica: uuid.NewString(), State: json.RawMessage(stateGen.Draw(rt, "state"))}
				tab.Receive("p", []Presence{p})
				set(p.Key, p.Conn, string(p.State), false)
			case 2:
				conn := rapid.SampledFrom(locals).Draw(rt, "conn")
				tab.dropConn(conn)
				for key := range model {
					set(key, conn, "null", true)
				}
			case 3:
				if rapid.Bool().Draw(rt, "expire") {
					tab.Tick(time.Now().Add(PresenceTTL + time.Hour))
					for key, byConn := range model {
						for conn, it := range byConn {
							if !it.local {
								set(key, conn, "null", false)
							}
						}
					}
				} else {
					tab.Tick(time.Now())
				}
			}
			checkPresenceIndex(rt, tab, model, rec, prefixes, append(slices.Clone(locals), peers...))
		}
	})
}

func checkPresenceIndex(rt *rapid.T, tab *PresenceTable, model map[string]map[string]presenceModelItem, rec *presenceRecorder, prefixes, conns []string) {
	want := map[string]map[string]string{}
	for key, byConn := range model {
		want[key] = map[string]string{}
		for conn, it := range byConn {
			want[key][conn] = it.state
		}
	}
	if !maps.EqualFunc(rec.states, want, maps.Equal) {
		rt.Fatalf("the listener holds %v, the model %v", rec.states, want)
	}
	tab.mu.Lock()
	var sorted []string
	tab.keys.Ascend(func(k string) bool { sorted = append(sorted, k); return true })
	if !slices.Equal(sorted, slices.Sorted(maps.Keys(model))) {
		rt.Fatalf("key index %v, keys %v", sorted, slices.Sorted(maps.Keys(model)))
	}
	for conn, ks := range tab.byConn {
		for key := range ks {
			if _, ok := model[key][conn]; !ok {
				rt.Fatalf("connection index has %s on %s; the model has not", conn, key)
			}
		}
	}
	tab.mu.Unlock()
	for _, prefix := range prefixes {
		var exp []string
		for _, key := range slices.Sorted(maps.Keys(model)) {
			if strings.HasPrefix(key, prefix) {
				for _, conn := range slices.Sorted(maps.Keys(model[key])) {
					exp = append(exp, key+" "+conn+" "+model[key][conn].state)
				}
			}
		}
		for _, isPrefix := range []bool{true, false} {
			var got []string
			for _, p := range tab.Matching(prefix, isPrefix) {
				got = append(got, p.Key+" "+p.Conn+" "+string(p.State))
			}
			e := exp
			if !isPrefix {
				e = slices.DeleteFunc(slices.Clone(exp), func(s string) bool { return !strings.HasPrefix(s, prefix+" ") })
			}
			if !slices.Equal(got, e) {
				rt.Fatalf("matching(%q, %v) = %v, want %v", prefix, isPrefix, got, e)
			}
		}
	}
	for _, conn := range conns {
		n := 0
		for _, byConn := range model {
			if _, ok := byConn[conn]; ok {
				n++
			}
		}
		if got := tab.LocalCount(conn); got != n {
			rt.Fatalf("localCount(%s) = %d, want %d", conn, got, n)
		}
	}
}

// newTestPresenceTable is a table of node "n" on the wall clock, with no
// peers.
func newTestPresenceTable() *PresenceTable {
	return NewPresenceTable("n", crand.Reader, store.WallClock, slog.New(slog.NewTextHandler(io.Discard, nil)), func([]byte) bool { return false })
}

// TestPresenceConnNamesAcrossRestarts: a node's next run names its
// connections afresh, so a peer's leftover copy of an earlier run's
// connection is never taken for a new one.
func TestPresenceConnNamesAcrossRestarts(t *testing.T) {
	first, again := newTestPresenceTable().newConn(), newTestPresenceTable().newConn()
	if first == again || !strings.HasPrefix(first, "n/") || !strings.HasPrefix(again, "n/") {
		t.Fatalf("two runs named their first connections %q and %q", first, again)
	}
}
