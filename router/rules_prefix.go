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
}

// prefixOf returns the literal prefix required by pattern (already with
// its flags, e.g. "(?i)^SELECT"), or the zero value when there is none.
func prefixOf(pattern string) anchoredPrefix {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return anchoredPrefix{}
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return anchoredPrefix{}
	}
	lit := re.Sub[1]
	if lit.Op != syntax.OpLiteral {
		return anchoredPrefix{}
	}
	return anchoredPrefix{lit: string(lit.Rune), fold: lit.Flags&syntax.FoldCase != 0}
}

// rulesOut reports whether text cannot match (it lacks the prefix).
func (p *anchoredPrefix) rulesOut(text string) bool {
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
