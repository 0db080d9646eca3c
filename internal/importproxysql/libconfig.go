// Package importproxysql converts a ProxySQL configuration file
// (proxysql.cnf, libconfig syntax) into rwproxy's YAML configuration:
// `rwproxy import-proxysql /etc/proxysql.cnf`.
package importproxysql

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the kind of a libconfig value.
type Kind int

// Value kinds: a group ({ name = value; ... }), a list (( v, v )), an
// array ([ v, v ]) or a scalar.
const (
	KindGroup Kind = iota
	KindList
	KindString
	KindInt
	KindFloat
	KindBool
)

// Setting is one name = value of a group, in file order.
type Setting struct {
	Name  string
	Value *Value
	Line  int
}

// Value is a libconfig value.
type Value struct {
	Kind     Kind
	Settings []Setting // KindGroup
	Items    []*Value  // KindList (lists and arrays)
	Str      string    // KindString
	Int      int64     // KindInt
	Float    float64   // KindFloat
	Bool     bool      // KindBool
	Line     int
}

// Get returns the group's setting name (case-sensitive, as libconfig), or nil.
func (v *Value) Get(name string) *Value {
	if v == nil || v.Kind != KindGroup {
		return nil
	}
	for _, s := range v.Settings {
		if s.Name == name {
			return s.Value
		}
	}
	return nil
}

// String renders a scalar as text (ints and bools as ProxySQL reads them).
func (v *Value) String() string {
	switch v.Kind {
	case KindString:
		return v.Str
	case KindInt:
		return strconv.FormatInt(v.Int, 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindList:
		return "(list)"
	}
	return "(group)"
}

// Parse reads a libconfig document (a top-level group without braces).
// Comments are #, // and /* */; a setting is name = value or name : value,
// ended by an optional ; or ,; adjacent strings concatenate; integers may
// be hexadecimal and carry an L suffix.
func Parse(src string) (*Value, error) {
	p := &parser{src: src, line: 1}
	g, err := p.settings(true)
	if err != nil {
		return nil, err
	}
	return g, nil
}

type parser struct {
	src  string
	pos  int
	line int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.line, fmt.Sprintf(format, args...))
}

// skip passes spaces and comments.
func (p *parser) skip() error {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			p.pos++
		case c == '#' || strings.HasPrefix(p.src[p.pos:], "//"):
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case strings.HasPrefix(p.src[p.pos:], "/*"):
			end := strings.Index(p.src[p.pos+2:], "*/")
			if end < 0 {
				return p.errorf("unterminated /* comment")
			}
			p.line += strings.Count(p.src[p.pos:p.pos+2+end], "\n")
			p.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// settings reads name = value pairs up to '}' (or the end, top).
func (p *parser) settings(top bool) (*Value, error) {
	g := &Value{Kind: KindGroup, Line: p.line}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		c := p.peek()
		if c == 0 {
			if !top {
				return nil, p.errorf("missing } at the end of the file")
			}
			return g, nil
		}
		if c == '}' {
			if top {
				return nil, p.errorf("unexpected }")
			}
			p.pos++
			return g, nil
		}
		line := p.line
		name := p.name()
		if name == "" {
			return nil, p.errorf("expected a setting name, found %q", string(c))
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		if c := p.peek(); c != '=' && c != ':' {
			return nil, p.errorf("expected = or : after %s", name)
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		g.Settings = append(g.Settings, Setting{Name: name, Value: v, Line: line})
		if err := p.skip(); err != nil {
			return nil, err
		}
		if c := p.peek(); c == ';' || c == ',' {
			p.pos++
		}
	}
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c == '*' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(!first && (c == '-' || (c >= '0' && c <= '9')))
}

func (p *parser) name() string {
	start := p.pos
	for p.pos < len(p.src) && isNameByte(p.src[p.pos], p.pos == start) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// value reads one value.
func (p *parser) value() (*Value, error) {
	if err := p.skip(); err != nil {
		return nil, err
	}
	line := p.line
	switch c := p.peek(); {
	case c == '{':
		p.pos++
		return p.settings(false)
	case c == '(' || c == '[':
		p.pos++
		closer := byte(')')
		if c == '[' {
			closer = ']'
		}
		l := &Value{Kind: KindList, Line: line}
		for {
			if err := p.skip(); err != nil {
				return nil, err
			}
			if p.peek() == closer {
				p.pos++
				return l, nil
			}
			if p.peek() == 0 {
				return nil, p.errorf("missing %q", string(closer))
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, v)
			if err := p.skip(); err != nil {
				return nil, err
			}
			if p.peek() == ',' {
				p.pos++
			}
		}
	case c == '"':
		var b strings.Builder
		for {
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
			if err := p.skip(); err != nil {
				return nil, err
			}
			if p.peek() != '"' { // adjacent strings concatenate
				return &Value{Kind: KindString, Str: b.String(), Line: line}, nil
			}
		}
	default:
		start := p.pos
		for p.pos < len(p.src) && strings.IndexByte(" \t\r\n;,)]}#/", p.src[p.pos]) < 0 {
			p.pos++
		}
		return scalar(p.src[start:p.pos], line, p)
	}
}

// quoted reads one "..." string with libconfig's escapes.
func (p *parser) quoted() (string, error) {
	p.pos++ // "
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\n':
			p.line++
		case '\\':
			p.pos++
			if p.pos >= len(p.src) {
				return "", p.errorf("unterminated string")
			}
			switch e := p.src[p.pos]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'f':
				b.WriteByte('\f')
			case '\\', '"':
				b.WriteByte(e)
			case 'x':
				if p.pos+2 >= len(p.src) {
					return "", p.errorf("bad \\x escape")
				}
				n, err := strconv.ParseUint(p.src[p.pos+1:p.pos+3], 16, 8)
				if err != nil {
					return "", p.errorf("bad \\x escape")
				}
				b.WriteByte(byte(n))
				p.pos += 2
			default:
				// ProxySQL's files hold regular expressions: keep an
				// unknown escape as written (\d, \s, \.).
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			p.pos++
			continue
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

// scalar parses an unquoted token: a boolean, an integer or a float.
func scalar(tok string, line int, p *parser) (*Value, error) {
	switch strings.ToLower(tok) {
	case "true":
		return &Value{Kind: KindBool, Bool: true, Line: line}, nil
	case "false":
		return &Value{Kind: KindBool, Bool: false, Line: line}, nil
	case "":
		return nil, p.errorf("expected a value")
	}
	t := strings.TrimRight(tok, "Ll")
	if n, err := strconv.ParseInt(t, 0, 64); err == nil {
		return &Value{Kind: KindInt, Int: n, Line: line}, nil
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return &Value{Kind: KindFloat, Float: f, Line: line}, nil
	}
	return nil, p.errorf("%q is not a value (strings need double quotes)", tok)
}
