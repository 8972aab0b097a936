package protocol

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// The JavaScript client cannot import this package; its copies of the
// tables must say the same.
func TestJSClientAgrees(t *testing.T) {
	b, err := os.ReadFile("../../clients/js/lattice_protocol.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)

	m := regexp.MustCompile(`export const PROTOCOL_VERSION = (\d+);`).FindStringSubmatch(src)
	if m == nil || m[1] != strconv.Itoa(Version) {
		t.Errorf("lattice_protocol.js PROTOCOL_VERSION %v, protocol.Version %d", m, Version)
	}

	m = regexp.MustCompile(`const FATAL_DELTA_CODES = new Set\(\[([^\]]*)\]\)`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("lattice_protocol.js has no FATAL_DELTA_CODES")
	}
	var js, want []string
	for _, q := range regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(m[1], -1) {
		js = append(js, q[1])
	}
	for _, c := range Codes() {
		if c.Retry == RetryNever {
			want = append(want, c.Code)
		}
	}
	slices.Sort(js)
	if !slices.Equal(js, want) {
		t.Errorf("lattice_protocol.js FATAL_DELTA_CODES %v, protocol's RetryNever codes %v", js, want)
	}

	block := regexp.MustCompile(`(?s)const CLOSE_REASONS = \{(.*?)\};`).FindStringSubmatch(src)
	if block == nil {
		t.Fatal("lattice_protocol.js has no CLOSE_REASONS")
	}
	got := map[int]string{}
	for _, r := range regexp.MustCompile(`(\d+): '([a-z_]+)'`).FindAllStringSubmatch(block[1], -1) {
		n, _ := strconv.Atoi(r[1])
		got[n] = r[2]
	}
	for _, c := range CloseCodes() {
		reason, _ := CloseReason(c)
		if got[c] != reason {
			t.Errorf("lattice_protocol.js CLOSE_REASONS[%d] = %q, protocol says %q", c, got[c], reason)
		}
	}
	if len(got) != len(CloseCodes()) {
		t.Errorf("lattice_protocol.js CLOSE_REASONS has %d codes, protocol %d", len(got), len(CloseCodes()))
	}
}

// Every code is named once, and the retry classes are the ones clients act on.
func TestCodesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes() {
		if seen[c.Code] {
			t.Errorf("%s twice", c.Code)
		}
		seen[c.Code] = true
		if c.HTTP == 0 && !c.WS {
			t.Errorf("%s is answered nowhere", c.Code)
		}
		if got := RetryOf(c.Code); got != c.Retry {
			t.Errorf("RetryOf(%s) = %d, table %d", c.Code, got, c.Retry)
		}
	}
	if RetryOf("a_code_from_the_future") != RetryNot {
		t.Error("an unknown code must leave a delta pending (RetryNot)")
	}
	if _, ok := Lookup("a_code_from_the_future"); ok {
		t.Error("Lookup found an unknown code")
	}
}
