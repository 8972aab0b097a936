package crdt

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// JSONProblem says what CheckJSON found wrong, so that callers can give
// each its own error code.
type JSONProblem uint8

const (
	JSONSyntax    JSONProblem = iota + 1 // not one JSON value
	JSONDuplicate                        // a name twice in one object
	JSONEncoding                         // invalid UTF-8, or a \u escape that is not a whole UTF-16 character
	JSONDepth                            // nesting deeper than MaxJSONDepth
)

// MaxJSONDepth bounds the nesting of untrusted JSON, so that no decoder
// recurses without bound.
const MaxJSONDepth = 64

// JSONError is CheckJSON's error. It wraps ErrInvalid.
type JSONError struct {
	Problem JSONProblem
	Offset  int
	Msg     string
}

func (e *JSONError) Error() string {
	return fmt.Sprintf("%v: json at byte %d: %s", ErrInvalid, e.Offset, e.Msg)
}

func (e *JSONError) Unwrap() error { return ErrInvalid }

// CheckJSON checks that data is exactly one JSON value (whitespace around
// it allowed) that every decoder reads the same way. encoding/json, which
// the node and the Go client decode with, is lenient where JavaScript and
// other decoders are not, or differ from each other: it keeps the last of
// two equal names, replaces invalid UTF-8 and lone surrogates with U+FFFD
// (so the writer's text and the stored text would differ), and matches
// field names without regard to case. CheckJSON refuses the first three;
// exact names are the struct decoders' business (their field sets are
// theirs). Names that differ only in case are distinct here, as in
// JavaScript.
func CheckJSON(data []byte) error {
	s := &jsonScan{b: data}
	s.space()
	if err := s.value(0); err != nil {
		return err
	}
	s.space()
	if s.i != len(s.b) {
		return s.fail(JSONSyntax, "trailing data after the JSON value")
	}
	return nil
}

type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) fail(p JSONProblem, format string, args ...any) error {
	return &JSONError{Problem: p, Offset: s.i, Msg: fmt.Sprintf(format, args...)}
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) value(depth int) error {
	if s.i >= len(s.b) {
		return s.fail(JSONSyntax, "truncated: a value is missing")
	}
	switch c := s.b[s.i]; {
	case c == '{' || c == '[':
		if depth >= MaxJSONDepth {
			return s.fail(JSONDepth, "nested deeper than %d", MaxJSONDepth)
		}
		if c == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.fail(JSONSyntax, "unexpected %q", s.b[s.i])
}

func (s *jsonScan) literal(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.fail(JSONSyntax, "invalid literal")
	}
	s.i += len(w)
	return nil
}

func (s *jsonScan) object(depth int) error {
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	var names map[string]struct{}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail(JSONSyntax, "expected a member name")
		}
		at := s.i
		name, err := s.str()
		if err != nil {
			return err
		}
		if names == nil {
			names = map[string]struct{}{}
		}
		if _, dup := names[name]; dup {
			s.i = at
			return s.fail(JSONDuplicate, "repeated key %q: a name may appear once in an object", name)
		}
		names[name] = struct{}{}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail(JSONSyntax, "expected ':' after a member name")
		}
		s.i++
		s.space()
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.fail(JSONSyntax, "truncated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail(JSONSyntax, "expected ',' or '}' in an object")
		}
	}
}

func (s *jsonScan) array(depth int) error {
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.space()
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.fail(JSONSyntax, "truncated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail(JSONSyntax, "expected ',' or ']' in an array")
		}
	}
}

// str reads a string and returns its decoded text, refusing what
// encoding/json would silently repair.
func (s *jsonScan) str() (string, error) {
	s.i++ // "
	var out []byte
	for {
		if s.i >= len(s.b) {
			return "", s.fail(JSONSyntax, "truncated string")
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), nil
		case c < 0x20:
			return "", s.fail(JSONSyntax, "control character in a string")
		case c == '\\':
			r, err := s.escape()
			if err != nil {
				return "", err
			}
			out = utf8.AppendRune(out, r)
		case c < utf8.RuneSelf:
			out = append(out, c)
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return "", s.fail(JSONEncoding, "invalid UTF-8 in a string")
			}
			out = append(out, s.b[s.i:s.i+n]...)
			s.i += n
		}
	}
}

// escape reads one escape sequence at s.i, a surrogate pair as one.
func (s *jsonScan) escape() (rune, error) {
	if s.i+1 >= len(s.b) {
		return 0, s.fail(JSONSyntax, "truncated escape")
	}
	c := s.b[s.i+1]
	s.i += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
	default:
		s.i -= 2
		return 0, s.fail(JSONSyntax, "invalid escape \\%c", c)
	}
	at := s.i - 2
	r, ok := s.hex4()
	if !ok {
		return 0, s.fail(JSONSyntax, "invalid \\u escape")
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r < 0xdc00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
		s.i += 2
		if lo, ok := s.hex4(); ok {
			if full := utf16.DecodeRune(r, lo); full != utf8.RuneError {
				return full, nil
			}
		}
	}
	s.i = at
	return 0, s.fail(JSONEncoding, "a lone UTF-16 surrogate (\\u%04x) is not a character", r)
}

func (s *jsonScan) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

func (s *jsonScan) number() error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		s.i = start
		return s.fail(JSONSyntax, "invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.fail(JSONSyntax, "invalid number: no digits after '.'")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.fail(JSONSyntax, "invalid number: no digits in the exponent")
		}
	}
	return nil
}
