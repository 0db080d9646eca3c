package router

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// anchoredPrefix is a literal that a regexp anchored at the start of the
// text requires there (the "^SELECT" of "^SELECT .* FOR UPDATE"): a text
// without it cannot match, which rules out most rules for a statement
// without running their regexp (Go's regexp engine costs microseconds on
// patterns like ".*" under (?i); a prefix compare costs nanoseconds).
type anchoredPrefix struct {
	lit  string
	fold bool
	// need is a literal that a match must contain somewhere (the longest
	// literal of the pattern's top-level concatenation: "FOR UPDATE" of
	// "^SELECT .* FOR UPDATE$"); needFold: compared without case.
	need     string
	needFold bool
}

// prefixOf returns the literal prefix required by pattern (already with
// its flags, e.g. "(?i)^SELECT"), or the zero value when there is none.
func prefixOf(pattern string) anchoredPrefix {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return anchoredPrefix{}
	}
	re = re.Simplify()
	var p anchoredPrefix
	switch re.Op {
	case syntax.OpLiteral:
		p.need, p.needFold = literalOf(re)
		return p
	case syntax.OpConcat:
	default:
		return p
	}
	for _, sub := range re.Sub {
		if sub.Op == syntax.OpLiteral && len(sub.Rune) > len(p.need) {
			p.need, p.needFold = literalOf(sub)
		}
	}
	if len(re.Sub) >= 2 && re.Sub[0].Op == syntax.OpBeginText && re.Sub[1].Op == syntax.OpLiteral {
		p.lit, p.fold = literalOf(re.Sub[1])
	}
	return p
}

// literalOf returns an OpLiteral's text and whether it matches without
// case; a literal with non-ASCII letters is not used (its case folds are
// not byte-for-byte).
func literalOf(re *syntax.Regexp) (string, bool) {
	for _, r := range re.Rune {
		if r >= utf8.RuneSelf {
			return "", false
		}
	}
	return string(re.Rune), re.Flags&syntax.FoldCase != 0
}

// rulesOut reports whether text cannot match (it lacks the prefix or the
// required literal).
func (p *anchoredPrefix) rulesOut(text string) bool {
	if p.need != "" && !containsFold(text, p.need, p.needFold) {
		return true
	}
	if p.lit == "" {
		return false
	}
	if len(text) < len(p.lit) {
		return true
	}
	if !p.fold {
		return !strings.HasPrefix(text, p.lit)
	}
	// EqualFold on a byte-length prefix is exact for ASCII; with
	// multi-byte letters whose folds differ in length, let the regexp
	// decide.
	head := text[:len(p.lit)]
	if !utf8.ValidString(head) {
		return false
	}
	return !strings.EqualFold(head, p.lit)
}

// containsFold reports whether s contains the ASCII literal sub, without
// case when fold. It does not allocate.
func containsFold(s, sub string, fold bool) bool {
	if !fold {
		return strings.Contains(s, sub)
	}
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
