package kubernetes

import (
	"fmt"
	"strconv"
	"strings"
)

// node is a parsed YAML value: map[string]node, []node or a string scalar.
type node = any

// parseYAML reads the block-style subset of YAML that lattice.yaml uses:
// mappings, sequences ("- "), plain or quoted scalars and comments. It is
// no general YAML parser (no flow collections, anchors or multi-line
// scalars) and says so rather than guess.
func parseYAML(text string) (node, error) {
	var ls []line
	for i, raw := range strings.Split(text, "\n") {
		s := stripComment(raw)
		if strings.TrimSpace(s) == "" || strings.TrimSpace(s) == "---" {
			continue
		}
		ls = append(ls, line{i + 1, len(s) - len(strings.TrimLeft(s, " ")), strings.TrimSpace(s)})
	}
	if len(ls) == 0 {
		return nil, nil
	}
	p := &parser{lines: ls}
	n, err := p.block(ls[0].indent)
	if err == nil && p.i < len(ls) {
		err = fmt.Errorf("line %d: unexpected indentation", ls[p.i].no)
	}
	return n, err
}

type line struct {
	no, indent int
	text       string
}

type parser struct {
	lines []line
	i     int
}

// block parses the mapping or sequence whose lines start at indent.
func (p *parser) block(indent int) (node, error) {
	if strings.HasPrefix(p.lines[p.i].text, "- ") || p.lines[p.i].text == "-" {
		var seq []node
		for p.i < len(p.lines) && p.lines[p.i].indent == indent && strings.HasPrefix(p.lines[p.i].text+" ", "- ") {
			// "- key: v" starts a mapping whose keys sit two columns in.
			l := &p.lines[p.i]
			rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
			if rest == "" {
				p.i++
				n, err := p.block(p.lines[p.i].indent)
				if err != nil {
					return nil, err
				}
				seq = append(seq, n)
				continue
			}
			l.indent, l.text = indent+2, rest
			if _, _, isMap := splitKey(rest); !isMap {
				p.i++
				seq = append(seq, unquote(rest))
				continue
			}
			n, err := p.block(indent + 2)
			if err != nil {
				return nil, err
			}
			seq = append(seq, n)
		}
		return seq, nil
	}
	m := map[string]node{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent {
		l := p.lines[p.i]
		k, v, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("line %d: want key: value, got %q", l.no, l.text)
		}
		if strings.HasPrefix(v, "{") || (strings.HasPrefix(v, "[") && v != "[]") || strings.HasPrefix(v, "&") || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
			return nil, fmt.Errorf("line %d: %q is beyond this reader's YAML subset", l.no, v)
		}
		p.i++
		switch {
		case v != "":
			m[k] = unquote(v)
		case p.i < len(p.lines) && (p.lines[p.i].indent > indent ||
			p.lines[p.i].indent == indent && strings.HasPrefix(p.lines[p.i].text, "- ")):
			n, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			m[k] = n
		default:
			m[k] = ""
		}
	}
	return m, nil
}

func splitKey(s string) (key, value string, ok bool) {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `'`) {
		return "", "", false
	}
	k, v, ok := strings.Cut(s, ":")
	if !ok || (v != "" && v[0] != ' ') {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

func stripComment(s string) string {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		return u
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// get follows keys through nested mappings; nil if any is missing.
func get(n node, path ...string) node {
	for _, k := range path {
		m, ok := n.(map[string]node)
		if !ok {
			return nil
		}
		n = m[k]
	}
	return n
}

// str is the scalar at path, or "".
func str(n node, path ...string) string {
	s, _ := get(n, path...).(string)
	return s
}

// list is the sequence at path, or nil.
func list(n node, path ...string) []node {
	l, _ := get(n, path...).([]node)
	return l
}
