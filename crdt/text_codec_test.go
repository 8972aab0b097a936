package crdt_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lattice-sync/lattice/crdt"
)

// textKey is the key of lo's first block of a text at the root.
func textKey(block uint64) string { return string(raw{0x08}.by(lo[:]...).u(block)) }

// validText is "ab" inserted by lo: one piece (dot lo:1, two characters,
// live, from the root), a vector of lo:2.
func validText() raw {
	return objHead(lo).u(2).str(textKey(0)).u(1, 1).u(2<<1|1, 0).str("ab").u(1, 1, 0, 2)
}

func TestTextHandWrittenEncoding(t *testing.T) {
	o := crdt.NewObject()
	if _, err := o.Apply(lo, ts(0, 0), crdt.Op{Type: crdt.TypeText, Kind: crdt.OpInsert, Value: crdt.String("ab")}); err != nil {
		t.Fatal(err)
	}
	if got := crdt.MarshalBinaryIn(o, 1); !bytes.Equal(got, validText()) {
		t.Fatalf("the hand-written text is\n%x\nbut the version 1 encoder writes\n%x", []byte(validText()), got)
	}
	j, _ := o.MarshalJSON()
	want := fmt.Sprintf(`{"types":["text"],"leaves":[[["text",["%s",1]],[["%s",1,2,null,"ab"]]]],"ctx":{"vv":[["%s",2]],"cloud":[]}}`, lo, lo, lo)
	if string(j) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", j, want)
	}
}

func TestTextDecodersRefuse(t *testing.T) {
	piece := func(entries raw, ctx ...uint64) raw {
		return objHead(lo).u(2).str(textKey(0)).by(entries...).u(ctx...)
	}
	cases := []malformed{
		{"text without a block", objHead(lo).u(2).str("\x08").u(1, 1).u(3, 0).str("a").u(1, 1, 0, 1), crdt.ErrInvalid},
		{"block beyond MaxSeq", objHead(lo).u(2).str(string(raw{0x08}.by(lo[:]...).u(crdt.MaxSeq))).u(1, 1).u(3, 0).str("a").u(1, 1, 0, 1), crdt.ErrInvalid},
		{"field type 5 in the long form", objHead(lo).u(2).str("\x04\x08\x05a").u(1, 1).u(1, 1, 0, 1), crdt.ErrInvalid},
		{"type set with an empty second byte", objHead().u(1).by(1, 0).u(0), crdt.ErrInvalid},
		{"piece of no characters", piece(raw{}.u(1, 1, 1, 0).str(""), 1, 1, 0, 1), crdt.ErrInvalid},
		{"piece longer than a block", piece(raw{}.u(1, 1, (crdt.TextBlock+1)<<1, 0), 1, 1, 0, crdt.TextBlock+1), crdt.ErrInvalid},
		{"string shorter than the piece", piece(raw{}.u(1, 1, 3<<1|1, 0).str("ab"), 1, 1, 0, 3), crdt.ErrInvalid},
		{"string longer than the piece", piece(raw{}.u(1, 1, 1<<1|1, 0).str("ab"), 1, 1, 0, 1), crdt.ErrInvalid},
		{"string not UTF-8", piece(raw{}.u(1, 1, 2<<1|1, 0).str("\xff\xfe"), 1, 1, 0, 2), crdt.ErrInvalid},
		{"piece outside its block", objHead(lo).u(2).str(textKey(1)).u(1, 1).u(3, 0).str("a").u(1, 1, 0, 1), crdt.ErrInvalid},
		{"piece across its block's end", objHead(lo).u(2).str(textKey(0)).u(1, crdt.TextBlock).u(2<<1|1, 0).str("ab").u(1, 1, 0, crdt.TextBlock+1), crdt.ErrInvalid},
		{"pieces overlap", piece(raw{}.u(2, 1, 2<<1|1, 0).str("ab").u(2, 1<<1|1, 0).str("c"), 1, 1, 0, 2), crdt.ErrInvalid},
		{"first sequence continues nothing", piece(raw{}.u(1, 1, 1<<1|1, 1).str("a"), 1, 1, 0, 1), crdt.ErrInvalid},
		{"continuation in the long form", piece(raw{}.u(2, 1, 1<<1|1, 0).str("a").u(2, 1<<1|1, 1<<1).str("b"), 1, 1, 0, 2), crdt.ErrInvalid},
		{"one piece written as two", piece(raw{}.u(2, 1, 1<<1|1, 0).str("a").u(2, 1<<1|1, 1).str("b"), 1, 1, 0, 2), crdt.ErrInvalid},
		{"origin beyond MaxSeq", piece(raw{}.u(1, 1, 1<<1|1, (crdt.MaxSeq+1)<<1).str("a"), 1, 1, 0, 1), crdt.ErrInvalid},
		{"deleted piece outside the context", piece(raw{}.u(1, 1, 2<<1, 0), 1, 1, 0, 1), crdt.ErrInvalid},
		{"piece and flag share a dot", objHead(lo).u(4).str(flagRoot).u(1, 1).u(0).str(textKey(0)).u(1, 1).u(3, 0).str("a").u(1, 1, 0, 1), crdt.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := crdt.UnmarshalObject(c.in)
			if err == nil || !errors.Is(err, c.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, c.want)
			}
			t.Log(err)
		})
	}
	// A deleted piece of a whole block costs a few bytes; its dots are in
	// the context's encoding, so decoding stays linear in the input.
	dead := piece(raw{}.u(1, 1, crdt.TextBlock<<1, 0), 1, 1, 0, crdt.TextBlock)
	o, err := crdt.UnmarshalObject(dead)
	if err != nil || o.Text() != "" {
		t.Fatalf("deleted block: %v %q", err, o.Text())
	}
}

func TestTextJSONRefusesAndNormalizes(t *testing.T) {
	leaf := func(path, entries string) string {
		return fmt.Sprintf(`{"types":["text"],"leaves":[[%s,[%s]]],"ctx":{"vv":[],"cloud":[]}}`, path, entries)
	}
	blk := fmt.Sprintf(`["text",["%s",1]]`, lo)
	e := func(seq, n int, origin, v string) string {
		return fmt.Sprintf(`["%s",%d,%d,%s,%s]`, lo, seq, n, origin, v)
	}
	cases := []struct{ name, in string }{
		{"block not aligned", leaf(fmt.Sprintf(`["text",["%s",2]]`, lo), e(2, 1, "null", `"a"`))},
		{"text without a block", leaf(`["text"]`, e(1, 1, "null", `"a"`))},
		{"side neither left nor right", leaf(blk, e(2, 1, fmt.Sprintf(`["%s",1,"up"]`, lo), `"a"`))},
		{"origin not an array", leaf(blk, e(1, 1, `"root"`, `"a"`))},
		{"value a number", leaf(blk, e(1, 1, "null", `1`))},
		{"length zero", leaf(blk, e(1, 0, "null", `""`))},
		{"length and string disagree", leaf(blk, e(1, 2, "null", `"abc"`))},
		{"overlapping pieces", leaf(blk, e(1, 2, "null", `"ab"`)+","+e(2, 1, "null", `"c"`))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := crdt.UnmarshalObjectJSON([]byte(c.in))
			if !errors.Is(err, crdt.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			t.Log(err)
		})
	}
	// A piece sent in two parts, as a hand-written delta might, is one
	// piece once decoded.
	in := leaf(blk, e(2, 1, fmt.Sprintf(`["%s",1,"right"]`, lo), `"b"`)+","+e(1, 1, "null", `"a"`))
	o, err := crdt.UnmarshalObjectJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, ps := pieces(o); o.Text() != "ab" || len(ps) != 1 {
		t.Fatalf("decoded %q as %q", o.Text(), ps)
	}
	requireRoundTrip(t, o)
	if !strings.Contains(string(jsonOf(t, o)), `,1,2,null,"ab"]`) {
		t.Fatalf("JSON %s", jsonOf(t, o))
	}
}
