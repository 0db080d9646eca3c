package headless

import (
	"fmt"
	"strings"

	"golang.org/x/net/html"
)

// DOM is a parsed page (DumpDOM's output) queried with a small subset of
// CSS selectors: compound selectors of a tag name, #id, .class, [attr] and
// [attr="value"], joined by spaces (descendant combinator).
type DOM struct {
	root *html.Node
}

// ParseDOM parses serialized HTML.
func ParseDOM(s string) (*DOM, error) {
	n, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return nil, err
	}
	return &DOM{root: n}, nil
}

// All returns the elements matching sel, in document order.
func (d *DOM) All(sel string) ([]*html.Node, error) {
	steps, err := parseSelector(sel)
	if err != nil {
		return nil, err
	}
	cur := []*html.Node{d.root}
	for _, st := range steps {
		var next []*html.Node
		seen := make(map[*html.Node]bool)
		for _, n := range cur {
			walk(n, func(c *html.Node) {
				if c != n && !seen[c] && st.match(c) {
					seen[c] = true
					next = append(next, c)
				}
			})
		}
		cur = next
	}
	return cur, nil
}

// Text returns n's text content, trimmed.
func Text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.TrimSpace(b.String())
}

// Attr returns n's attribute name, and whether it has it.
func Attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

// compound is one compound selector.
type compound struct {
	tag     string
	id      string
	classes []string
	attrs   [][2]string // name, value; value "\x00" = present
}

func (c *compound) match(n *html.Node) bool {
	if n.Type != html.ElementNode || (c.tag != "" && n.Data != c.tag) {
		return false
	}
	if c.id != "" {
		if v, _ := Attr(n, "id"); v != c.id {
			return false
		}
	}
	cls, _ := Attr(n, "class")
	for _, want := range c.classes {
		if !containsField(cls, want) {
			return false
		}
	}
	for _, a := range c.attrs {
		v, ok := Attr(n, a[0])
		if !ok || (a[1] != "\x00" && v != a[1]) {
			return false
		}
	}
	return true
}

func containsField(s, f string) bool {
	for _, x := range strings.Fields(s) {
		if x == f {
			return true
		}
	}
	return false
}

// parseSelector splits sel at spaces outside brackets and quotes.
func parseSelector(sel string) ([]*compound, error) {
	var out []*compound
	for _, part := range splitOutside(strings.TrimSpace(sel)) {
		c, err := parseCompound(part)
		if err != nil {
			return nil, fmt.Errorf("selector %q: %w", sel, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return out, nil
}

func splitOutside(s string) []string {
	var parts []string
	depth, quote, start := 0, byte(0), 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '[':
			depth++
		case ch == ']':
			depth--
		case ch == ' ' && depth == 0:
			if i > start {
				parts = append(parts, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		parts = append(parts, s[start:])
	}
	return parts
}

func isNameByte(b byte) bool {
	return b == '-' || b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func parseCompound(s string) (*compound, error) {
	c := &compound{}
	i := 0
	name := func() string {
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		v := s[i:j]
		i = j
		return v
	}
	c.tag = name()
	for i < len(s) {
		switch s[i] {
		case '#':
			i++
			c.id = name()
		case '.':
			i++
			c.classes = append(c.classes, name())
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			body := s[i+1 : i+end]
			i += end + 1
			k, v, ok := strings.Cut(body, "=")
			if !ok {
				c.attrs = append(c.attrs, [2]string{k, "\x00"})
				continue
			}
			c.attrs = append(c.attrs, [2]string{k, strings.Trim(v, `"'`)})
		default:
			return nil, fmt.Errorf("unexpected %q", s[i])
		}
	}
	return c, nil
}
