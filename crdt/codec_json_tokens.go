package crdt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The token-level reads of the JSON decoder: one value of the kind the
// format expects next (a delimiter, string, bounded integer, scalar, type
// name, object of known keys, array), or an error saying where.

func (r *jsonReader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: json at byte %d: %s", ErrInvalid, r.dec.InputOffset(), fmt.Sprintf(format, args...))
}

func (r *jsonReader) token() (json.Token, error) {
	t, err := r.dec.Token()
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, r.errf("truncated")
	}
	if err != nil {
		return nil, r.errf("%v", err)
	}
	return t, nil
}

// delim reads the delimiter d: an opening one, or a closing one where a
// fixed number of elements must end.
func (r *jsonReader) delim(d json.Delim, what string) error {
	t, err := r.token()
	if err != nil {
		return err
	}
	if t != d {
		return r.errf("%s: want %q, got %s", what, d, describe(t))
	}
	return nil
}

func describe(t json.Token) string {
	switch t := t.(type) {
	case json.Delim:
		return strconv.Quote(t.String())
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func (r *jsonReader) string(what string) (string, error) {
	t, err := r.token()
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", r.errf("%s: want a string, got %s", what, describe(t))
	}
	return s, nil
}

// uint reads an integer in lo..hi written without fraction or exponent.
func (r *jsonReader) uint(what string, lo, hi uint64) (uint64, error) {
	t, err := r.token()
	if err != nil {
		return 0, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, r.errf("%s: want an integer, got %s", what, describe(t))
	}
	x, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil || x < lo || x > hi {
		return 0, r.errf("%s %s is not an integer in %d..%d", what, n, lo, hi)
	}
	return x, nil
}

func (r *jsonReader) scalar(what string) (Value, error) {
	t, err := r.token()
	if err != nil {
		return Value{}, err
	}
	if _, ok := t.(json.Delim); ok {
		return Value{}, r.errf("%s: want a scalar, got %s", what, describe(t))
	}
	v, err := ValueOf(t)
	if err != nil {
		return Value{}, r.errf("%s: %v", what, err)
	}
	return v, nil
}

func (r *jsonReader) typeName(what string) (Type, error) {
	s, err := r.string(what)
	if err != nil {
		return 0, err
	}
	t, err := ParseType(s)
	if err != nil {
		return 0, r.errf("%s: unknown type %q", what, s)
	}
	return t, nil
}

// fields reads a JSON object whose keys are exactly the ones in read, in
// any order, each once, calling read[key] for its value.
func (r *jsonReader) fields(what string, read map[string]func() error) error {
	if err := r.delim('{', what); err != nil {
		return err
	}
	done := map[string]bool{}
	for r.dec.More() {
		k, err := r.string(what + " key")
		if err != nil {
			return err
		}
		fn, ok := read[k]
		if !ok || done[k] {
			return r.errf("%s: unexpected or repeated key %q", what, k)
		}
		done[k] = true
		if err := fn(); err != nil {
			return err
		}
	}
	if err := r.delim('}', what); err != nil {
		return err
	}
	for k := range read {
		if !done[k] {
			return r.errf("%s: missing key %q", what, k)
		}
	}
	return nil
}

// array reads a JSON array, calling each for every element with its index.
func (r *jsonReader) array(what string, each func(i int) error) error {
	if err := r.delim('[', what); err != nil {
		return err
	}
	for i := 0; r.dec.More(); i++ {
		if err := each(i); err != nil {
			return fmt.Errorf("%s[%d]: %w", what, i, err)
		}
	}
	return r.delim(']', what)
}
