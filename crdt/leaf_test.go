package crdt

import (
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

// TestDiffLiveDots: the range-wise difference of two versions of a text
// block is the dot-by-dot one.
func TestDiffLiveDots(t *testing.T) {
	r := uuid.MustParse("0a000000-0000-4000-8000-000000000002")
	rapid.Check(t, func(t *rapid.T) {
		block := func(name string) []Entry {
			var cs []textChar
			for s := uint64(1); s <= 40; s++ {
				switch rapid.IntRange(0, 2).Draw(t, name) {
				case 1:
					cs = append(cs, textChar{dot: Dot{Replica: r, Seq: s}, origin: Dot{Replica: r, Seq: s - 1}, live: true, r: 'x'})
				case 2:
					cs = append(cs, textChar{dot: Dot{Replica: r, Seq: s}, origin: Dot{Replica: r, Seq: s - 1}})
				}
			}
			return compressChars(cs)
		}
		old, next := block("old"), block("new")
		live := func(es []Entry) map[Dot]bool {
			m := map[Dot]bool{}
			for _, e := range es {
				e.EachLiveDot(func(d Dot) { m[d] = true })
			}
			return m
		}
		a, b := live(old), live(next)
		gone, came := map[Dot]bool{}, map[Dot]bool{}
		_ = DiffLiveDots(old, next,
			func(d Dot) error { gone[d] = true; return nil },
			func(d Dot) error { came[d] = true; return nil })
		for d := range a {
			if !b[d] != gone[d] {
				t.Fatalf("dot %s: in old, in new %v, reported gone %v", d, b[d], gone[d])
			}
		}
		for d := range b {
			if !a[d] != came[d] {
				t.Fatalf("dot %s: in new, in old %v, reported came %v", d, a[d], came[d])
			}
		}
		if len(gone)+len(came) > len(a)+len(b) {
			t.Fatalf("reported dots outside both versions")
		}
	})
}
