package crdt_test

import (
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/lattice-sync/lattice/crdt"
)

func ts(wall int64, logical uint32) crdt.Timestamp {
	return crdt.Timestamp{Wall: wall, Logical: logical}
}

func TestClockNowNeverGoesBack(t *testing.T) {
	var c crdt.Clock
	steps := []struct {
		pt   int64
		want crdt.Timestamp
	}{
		{100, ts(100, 0)},
		{100, ts(100, 1)}, // same millisecond: the logical part moves
		{40, ts(100, 2)},  // physical time went back: so does nothing
		{99, ts(100, 3)},
		{250, ts(250, 0)}, // physical time caught up: logical resets
		{0, ts(250, 1)},
	}
	for i, s := range steps {
		if got := c.Now(s.pt); got != s.want {
			t.Fatalf("step %d: Now(%d) = %v, want %v", i, s.pt, got, s.want)
		}
		if c.Last() != s.want {
			t.Fatalf("step %d: Last() = %v, want %v", i, c.Last(), s.want)
		}
	}
}

func TestClockUpdate(t *testing.T) {
	cases := []struct {
		name   string
		pt     int64
		prev   crdt.Timestamp // the clock's last reading
		remote crdt.Timestamp
		want   crdt.Timestamp
	}{
		{"remote far ahead of a slow clock", 1_000, ts(1_000, 0), ts(5_000_000, 3), ts(5_000_000, 4)},
		{"remote behind the local clock", 2_000, ts(3_000, 5), ts(1_000, 9), ts(3_000, 6)},
		{"physical time ahead of both", 9_000, ts(3_000, 5), ts(4_000, 0), ts(9_000, 0)},
		{"remote equal to the last reading", 10, ts(500, 2), ts(500, 2), ts(500, 3)},
		{"logical part exhausted", 10, ts(20, 0), ts(700, math.MaxUint32), ts(701, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c crdt.Clock
			// Bring the clock to exactly tc.prev.
			if tc.prev.Logical == 0 {
				c.Now(tc.prev.Wall)
			} else {
				c.Update(0, ts(tc.prev.Wall, tc.prev.Logical-1))
			}
			if c.Last() != tc.prev {
				t.Fatalf("setup: last %v, want %v", c.Last(), tc.prev)
			}
			got := c.Update(tc.pt, tc.remote)
			if got != tc.want {
				t.Fatalf("Update(%d, %v) = %v, want %v", tc.pt, tc.remote, got, tc.want)
			}
			if got.Compare(tc.remote) <= 0 || got.Compare(tc.prev) <= 0 {
				t.Fatalf("%v is not after both %v and %v", got, tc.remote, tc.prev)
			}
			if next := c.Now(tc.pt); next.Compare(got) <= 0 {
				t.Fatalf("Now after Update went back: %v then %v", got, next)
			}
		})
	}
}

func TestTimestampCompare(t *testing.T) {
	ordered := []crdt.Timestamp{ts(0, 0), ts(0, 1), ts(0, math.MaxUint32), ts(1, 0), ts(1, 7), ts(simStart, 0)}
	for i, x := range ordered {
		for j, y := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := x.Compare(y); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", x, y, got, want)
			}
		}
	}
	if !ts(0, 0).IsZero() || ts(0, 1).IsZero() {
		t.Errorf("IsZero wrong")
	}
}

// TestClockRespectsHappensBefore drives three clocks, up to an hour apart
// and with physical time that stutters backwards, through random local
// events, sends and receives. Vector clocks track happens-before; every
// event's timestamp must exceed those of all events that happened before it.
func TestClockRespectsHappensBefore(t *testing.T) {
	type stamped struct {
		vc [3]int
		ts crdt.Timestamp
	}
	type message struct {
		to int
		stamped
	}
	rapid.Check(t, func(t *rapid.T) {
		var clocks [3]crdt.Clock
		var vcs [3][3]int
		var skew [3]int64
		for i := range skew {
			skew[i] = rapid.Int64Range(-3_600_000, 3_600_000).Draw(t, "skew")
		}
		pt := int64(simStart)
		var events []stamped
		var inFlight []message
		record := func(i int, ts crdt.Timestamp) stamped {
			vcs[i][i]++
			e := stamped{vc: vcs[i], ts: ts}
			events = append(events, e)
			return e
		}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for k := 0; k < steps; k++ {
			pt += rapid.Int64Range(0, 50).Draw(t, "tick")
			i := rapid.IntRange(0, 2).Draw(t, "clock")
			// An NTP step can set a physical clock back by seconds.
			local := pt + skew[i] - rapid.SampledFrom([]int64{0, 0, 0, 5_000}).Draw(t, "step back")
			switch rapid.IntRange(0, 2).Draw(t, "action") {
			case 0:
				record(i, clocks[i].Now(local))
			case 1:
				to := (i + 1 + rapid.IntRange(0, 1).Draw(t, "to")) % 3
				inFlight = append(inFlight, message{to: to, stamped: record(i, clocks[i].Now(local))})
			case 2:
				if len(inFlight) == 0 {
					continue
				}
				m := rapid.IntRange(0, len(inFlight)-1).Draw(t, "msg")
				msg := inFlight[m]
				inFlight = append(inFlight[:m], inFlight[m+1:]...)
				for r := range vcs[msg.to] {
					vcs[msg.to][r] = max(vcs[msg.to][r], msg.vc[r])
				}
				record(msg.to, clocks[msg.to].Update(pt+skew[msg.to], msg.ts))
			}
		}
		before := func(a, b [3]int) bool {
			return a != b && a[0] <= b[0] && a[1] <= b[1] && a[2] <= b[2]
		}
		for _, a := range events {
			for _, b := range events {
				if before(a.vc, b.vc) && a.ts.Compare(b.ts) >= 0 {
					t.Fatalf("event %v at %v happened before event %v at %v", a.vc, a.ts, b.vc, b.ts)
				}
			}
		}
	})
}

// TestLWWClockBehind: a replica whose clock is an hour behind overwrites a
// value it has seen, and its write wins everywhere, whether or not it
// folded the writer's clock into its own.
func TestLWWClockBehind(t *testing.T) {
	for _, foldClock := range []bool{true, false} {
		name := "without the remote clock"
		if foldClock {
			name = "with the remote clock"
		}
		t.Run(name, func(t *testing.T) {
			// slow's id sorts before fast's, so not even a timestamp tie
			// would let it win: only the clock rule can.
			slow, fast := lawReplicas[1], lawReplicas[0]
			var slowClock, fastClock crdt.Clock
			const hour = 3_600_000
			a, b := crdt.NewObject(), crdt.NewObject()
			set := func(o *crdt.Object, r crdt.ReplicaID, now crdt.Timestamp, v int64) *crdt.Object {
				d, err := o.Apply(r, now, crdt.Op{Type: crdt.TypeLWW, Kind: crdt.OpSet, Path: []string{"title"}, Value: crdt.MustInt(v)})
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			pt := int64(simStart)
			bNow := fastClock.Now(pt)
			a.Join(set(b, fast, bNow, 1))
			slowNow := slowClock.Now(pt + 10 - hour)
			if foldClock {
				slowClock.Update(pt+10-hour, bNow)
				slowNow = slowClock.Now(pt + 20 - hour)
			}
			b.Join(set(a, slow, slowNow, 2))
			want := map[string]any{"title": int64(2)}
			for name, o := range map[string]*crdt.Object{"slow": a, "fast": b} {
				got, ok := o.Value().(map[string]any)
				if !ok || got["title"] != want["title"] {
					t.Fatalf("%s replica reads %v, want %v", name, o.Value(), want)
				}
			}
			// The fast replica writing again, later by its own clock, wins
			// back: the rule only orders writes that saw each other.
			a.Join(set(b, fast, fastClock.Now(pt+30), 3))
			if got := a.Value().(map[string]any)["title"]; got != int64(3) {
				t.Fatalf("after a later write the slow replica reads %v, want 3", got)
			}
		})
	}
}
