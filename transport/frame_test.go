package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	payloads := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte{7}, 300), make([]byte, MaxMessageSize)}
	b := appendBatch(nil, "node-1", payloads)
	if len(b) > maxFrameSize {
		t.Fatalf("frame of %d bytes exceeds maxFrameSize %d", len(b), maxFrameSize)
	}
	f, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.kind != frameBatch || f.from != "node-1" {
		t.Fatalf("decoded %v from %q", f.kind, f.from)
	}
	got := slices.Collect(f.payloads())
	if !slices.EqualFunc(got, payloads, bytes.Equal) {
		t.Fatalf("payloads differ")
	}

	f, err = decodeFrame(appendLeave(nil, "node-1"))
	if err != nil || f.kind != frameLeave || f.from != "node-1" {
		t.Fatalf("leave: %+v, %v", f, err)
	}
}

func TestDecodeFrameRejects(t *testing.T) {
	hdr := appendFrameHeader(nil, frameBatch, "a")
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"kind only", []byte{byte(frameBatch)}},
		{"unknown kind", appendFrameHeader(nil, 9, "a")},
		{"empty name", append(appendFrameHeader(nil, frameBatch, ""), 1, 'x')},
		{"name too long", appendFrameHeader(nil, frameLeave, string(make([]byte, maxNameLen+1)))},
		{"name past end", []byte{byte(frameBatch), 5, 'a'}},
		{"batch without payloads", hdr},
		{"payload past end", append(slices.Clone(hdr), 10, 'x')},
		{"payload over limit", binary.AppendUvarint(slices.Clone(hdr), MaxMessageSize+1)},
		{"huge length", binary.AppendUvarint(slices.Clone(hdr), 1<<62)},
		{"overflowing varint", append(slices.Clone(hdr), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"truncated varint", append(slices.Clone(hdr), 0x80)},
		{"leave with body", append(appendLeave(nil, "a"), 0)},
		{"oversized frame", make([]byte, maxFrameSize+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeFrame(tt.b); !errors.Is(err, errMalformed) {
				t.Fatalf("err = %v, want errMalformed", err)
			}
		})
	}
}

func TestDecodeFrameAllocatesOnlyTheName(t *testing.T) {
	b := appendBatch(nil, "node", [][]byte{make([]byte, 1000), make([]byte, 1000)})
	allocs := testing.AllocsPerRun(100, func() {
		f, err := decodeFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		for range f.payloads() {
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per decode, want at most 1 (the name)", allocs)
	}
}

// FuzzDecodeFrame feeds untrusted bytes to the decoder: it must return an
// error or a frame whose payloads fit in the input, never panic. The seed
// corpus in testdata/fuzz/FuzzDecodeFrame runs with plain go test.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendBatch(nil, "a", [][]byte{[]byte("hello")}))
	f.Add(appendLeave(nil, "b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error not wrapping errMalformed: %v", err)
			}
			return
		}
		payloads := slices.Collect(fr.payloads())
		total := len(fr.from)
		for _, p := range payloads {
			total += len(p)
		}
		if total > len(data) {
			t.Fatalf("decoded %d bytes from a %d-byte frame", total, len(data))
		}
		var again []byte
		switch fr.kind {
		case frameBatch:
			again = appendBatch(nil, fr.from, payloads)
		case frameLeave:
			again = appendLeave(nil, fr.from)
		default:
			t.Fatalf("accepted unknown kind %d", fr.kind)
		}
		fr2, err := decodeFrame(again)
		if err != nil {
			t.Fatalf("re-encoded frame rejected: %v", err)
		}
		if fr2.kind != fr.kind || fr2.from != fr.from || !slices.EqualFunc(slices.Collect(fr2.payloads()), payloads, bytes.Equal) {
			t.Fatal("re-encoded frame decodes differently")
		}
	})
}
