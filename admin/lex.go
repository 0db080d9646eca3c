package admin

import "strings"

// tokKind classifies a token of an admin statement.
type tokKind uint8

const (
	tkSpace    tokKind = iota // whitespace
	tkComment                 // -- ..., # ..., /* ... */
	tkIdent                   // name or keyword
	tkQuoted                  // `name`
	tkString                  // '...'
	tkDQString                // "..." (an identifier or a string, as SQLite decides)
	tkNumber
	tkSysVar  // @@name, @@session.name, @@mysql-max_connections
	tkUserVar // @name
	tkPunct   // operators and punctuation, ";" included
)

// token is one lexeme; text is exactly the source text.
type token struct {
	kind tokKind
	text string
}

// significant reports whether t is neither space nor a comment.
func (t token) significant() bool { return t.kind != tkSpace && t.kind != tkComment }

// is reports whether t is the keyword or punctuation kw (case-insensitive).
func (t token) is(kw string) bool {
	return (t.kind == tkIdent || t.kind == tkPunct) && strings.EqualFold(t.text, kw)
}

// isLiteral reports whether t is a string or number literal.
func (t token) isLiteral() bool {
	return t.kind == tkString || t.kind == tkDQString || t.kind == tkNumber
}

// lex splits s into tokens. It never fails: an unterminated quote or
// comment runs to the end of s, and SQLite then reports the error.
// Strings follow SQLite (and ProxySQL's admin): a quote is doubled to
// escape it, and a backslash is an ordinary character, so regular
// expressions such as '^SELECT \.' keep their backslashes.
func lex(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		j, kind := scanToken(s, i)
		out = append(out, token{kind: kind, text: s[i:j]})
		i = j
	}
	return out
}

// scanToken returns the end of the token starting at s[i] and its kind.
func scanToken(s string, i int) (int, tokKind) {
	c := s[i]
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		j := i + 1
		for j < len(s) && strings.IndexByte(" \t\n\r\f\v", s[j]) >= 0 {
			j++
		}
		return j, tkSpace
	case c == '#' || (c == '-' && strings.HasPrefix(s[i:], "--")):
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			return len(s), tkComment
		}
		return i + j + 1, tkComment
	case c == '/' && strings.HasPrefix(s[i:], "/*"):
		j := strings.Index(s[i+2:], "*/")
		if j < 0 {
			return len(s), tkComment
		}
		return i + 2 + j + 2, tkComment
	case c == '\'':
		return scanQuoted(s, i, '\''), tkString
	case c == '"':
		return scanQuoted(s, i, '"'), tkDQString
	case c == '`':
		return scanQuoted(s, i, '`'), tkQuoted
	case c == '@':
		if strings.HasPrefix(s[i:], "@@") {
			// System variables may contain dots (scope) and, for rwproxy's
			// own mysql-*/admin-* names, dashes.
			return scanWhile(s, i+2, func(b byte) bool { return isIdentByte(b) || b == '.' || b == '-' }), tkSysVar
		}
		return scanWhile(s, i+1, isIdentByte), tkUserVar
	case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		return scanNumber(s, i), tkNumber
	case isIdentByte(c):
		return scanWhile(s, i, isIdentByte), tkIdent
	}
	// Two-character operators, then any single byte.
	for _, op := range []string{"<=>", "<>", "!=", "<=", ">=", "==", "||", "<<", ">>"} {
		if strings.HasPrefix(s[i:], op) {
			return i + len(op), tkPunct
		}
	}
	return i + 1, tkPunct
}

// scanQuoted returns the end of the quoted token at s[i] (a doubled quote
// does not end it).
func scanQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// scanNumber returns the end of the number at s[i]: decimal with an
// optional fraction and exponent, or 0x hexadecimal.
func scanNumber(s string, i int) int {
	if strings.HasPrefix(s[i:], "0x") || strings.HasPrefix(s[i:], "0X") {
		return scanWhile(s, i+2, func(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' })
	}
	j := scanWhile(s, i, func(b byte) bool { return b >= '0' && b <= '9' || b == '.' })
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && s[k] >= '0' && s[k] <= '9' {
			j = scanWhile(s, k, func(b byte) bool { return b >= '0' && b <= '9' })
		}
	}
	return j
}

func scanWhile(s string, j int, ok func(byte) bool) int {
	for j < len(s) && ok(s[j]) {
		j++
	}
	return j
}

func isIdentByte(b byte) bool {
	return b == '_' || b == '$' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
}

// splitStatements cuts a query into statements at top-level semicolons and
// drops empty ones.
func splitStatements(q string) [][]token {
	var out [][]token
	var cur []token
	flush := func() {
		for _, t := range cur {
			if t.significant() {
				out = append(out, cur)
				break
			}
		}
		cur = nil
	}
	for _, t := range lex(q) {
		if t.kind == tkPunct && t.text == ";" {
			flush()
			continue
		}
		cur = append(cur, t)
	}
	flush()
	return out
}

// sig returns the significant tokens of ts.
func sig(ts []token) []token {
	out := make([]token, 0, len(ts))
	for _, t := range ts {
		if t.significant() {
			out = append(out, t)
		}
	}
	return out
}

// join rebuilds the statement text; comments become one space (MySQL's
// "#" comments are not SQLite syntax).
func join(ts []token) string {
	var b strings.Builder
	for _, t := range ts {
		if t.kind == tkComment {
			b.WriteByte(' ')
			continue
		}
		b.WriteString(t.text)
	}
	return strings.TrimSpace(b.String())
}

// unquote returns the value of a string or quoted-identifier token, or the
// text of any other token.
func unquote(t token) string {
	switch t.kind {
	case tkString, tkDQString, tkQuoted:
		if len(t.text) >= 2 {
			q := t.text[:1]
			return strings.ReplaceAll(t.text[1:len(t.text)-1], q+q, q)
		}
	}
	return t.text
}

// quoteString returns s as an SQLite string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent returns s as a backquoted identifier (SQLite accepts MySQL's
// backquotes).
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
