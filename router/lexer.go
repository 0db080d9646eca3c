package router

import "strings"

// tokKind is the class of a lexer token.
type tokKind uint8

const (
	tokEOF     tokKind = iota
	tokWord            // unquoted identifier or keyword (may start with a digit: 1abc)
	tokQuoted          // `quoted identifier`
	tokString          // '...' or "..." (also X'..', B'..', N'..')
	tokNumber          // 12, 1.5e3, .5, 0x1F, 0b01
	tokUserVar         // @name, @'name', @`name`
	tokSysVar          // @@name, @@session.name
	tokSemi            // ;
	tokPunct           // operator or punctuation
	tokError           // unterminated string, quoted identifier or comment
)

// token is a span of the lexed text; it never copies.
type token struct {
	kind       tokKind
	start, end int
}

// lexer is a minimal MySQL tokenizer. It is a value type so that it lives on
// the stack: lexing never allocates. It skips whitespace and comments and
// lexes the contents of executable comments (/*! ... */ and MariaDB's
// /*M! ... */) as ordinary tokens, because the server executes them; sawExec
// records that one was seen so the fast path can defer to the parser.
//
// Strings are lexed with backslash escapes and "..." is a string (the
// default sql_mode) unless mode says NO_BACKSLASH_ESCAPES or ANSI_QUOTES,
// as the server does for the session (Classifier.SetSQLMode).
type lexer struct {
	s    string
	pos  int
	mode SQLMode
	// hints: parse the body of every plain block comment skipped into
	// hint while hint is empty (statementHint).
	hints   bool
	hint    Hint
	inExec  bool // inside an executable comment
	sawExec bool // an executable comment was seen
	sawM    bool // a MariaDB /*M! comment was seen
}

// lowerTab maps ASCII upper case letters to lower case and every other byte to itself.
var lowerTab = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = byte(c) + 'a' - 'A'
	}
	return t
}()

// identChar reports bytes allowed in unquoted identifiers (and in numbers'
// identifier tails): ASCII letters, digits, '_', '$' and any non-ASCII byte.
var identChar = func() (t [256]bool) {
	for i := range t {
		c := byte(i)
		t[i] = c >= 0x80 || c == '_' || c == '$' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	}
	return t
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// eqFold reports whether w equals lower, ignoring ASCII case. lower must be
// lower case.
func eqFold(w, lower string) bool {
	if len(w) != len(lower) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if lowerTab[w[i]] != lower[i] {
			return false
		}
	}
	return true
}

// text returns the source text of t.
func (l *lexer) text(t token) string { return l.s[t.start:t.end] }

// isWord reports whether t is the unquoted word lower (case-insensitive).
func (l *lexer) isWord(t token, lower string) bool {
	return t.kind == tokWord && eqFold(l.s[t.start:t.end], lower)
}

// isPunct reports whether t is the punctuation p.
func (l *lexer) isPunct(t token, p string) bool {
	return t.kind == tokPunct && l.s[t.start:t.end] == p
}

// next returns the next token, skipping whitespace and comments.
func (l *lexer) next() token {
	s := l.s
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case isSpace(c):
			l.pos++
			continue
		case c == '#':
			l.skipLine()
			continue
		case c == '-' && l.pos+1 < len(s) && s[l.pos+1] == '-' && (l.pos+2 == len(s) || s[l.pos+2] <= ' '):
			l.skipLine()
			continue
		case c == '/' && l.pos+1 < len(s) && s[l.pos+1] == '*':
			if !l.skipBlockComment() {
				return token{kind: tokError, start: l.pos, end: len(s)}
			}
			continue
		case c == '*' && l.inExec && l.pos+1 < len(s) && s[l.pos+1] == '/':
			l.inExec = false
			l.pos += 2
			continue
		}
		return l.scan()
	}
	return token{kind: tokEOF, start: len(s), end: len(s)}
}

func (l *lexer) skipLine() {
	if i := strings.IndexByte(l.s[l.pos:], '\n'); i >= 0 {
		l.pos += i + 1
	} else {
		l.pos = len(l.s)
	}
}

// skipBlockComment skips a /* */ comment at l.pos, or enters an executable
// comment. It returns false for an unterminated comment.
func (l *lexer) skipBlockComment() bool {
	s := l.s
	p := l.pos + 2
	if p < len(s) && s[p] == '!' {
		l.enterExec(p + 1)
		return true
	}
	if p+1 < len(s) && s[p] == 'M' && s[p+1] == '!' {
		l.sawM = true
		l.enterExec(p + 2)
		return true
	}
	i := strings.Index(s[p:], "*/")
	if i < 0 {
		l.pos = len(s)
		return false
	}
	if l.hints && l.hint.Target == HintNone {
		l.hint = parseHint(s[p : p+i])
	}
	l.pos = p + i + 2
	return true
}

// enterExec starts an executable comment whose optional version number starts at p.
func (l *lexer) enterExec(p int) {
	for n := 0; n < 6 && p < len(l.s) && isDigit(l.s[p]); n++ {
		p++
	}
	l.pos = p
	l.inExec = true
	l.sawExec = true
}

// scan lexes one token at l.pos, which is not whitespace or a comment.
func (l *lexer) scan() token {
	s := l.s
	start := l.pos
	c := s[start]
	switch {
	case c == '"' && l.mode&ModeANSIQuotes != 0:
		end, ok := scanQuotedIdent(s, start)
		l.pos = end
		if !ok {
			return token{kind: tokError, start: start, end: end}
		}
		return token{kind: tokQuoted, start: start, end: end}
	case c == '\'' || c == '"':
		return l.scanString(start, start)
	case c == '`':
		end, ok := scanQuotedIdent(s, start)
		l.pos = end
		if !ok {
			return token{kind: tokError, start: start, end: end}
		}
		return token{kind: tokQuoted, start: start, end: end}
	case c == '@':
		return l.scanVar(start)
	case isDigit(c) || (c == '.' && start+1 < len(s) && isDigit(s[start+1])):
		return l.scanNumber(start)
	case identChar[c]:
		p := start + 1
		for p < len(s) && identChar[s[p]] {
			p++
		}
		// X'0A', B'01', N'text': one literal token.
		if p == start+1 && p < len(s) && s[p] == '\'' {
			switch c {
			case 'x', 'X', 'b', 'B', 'n', 'N':
				return l.scanString(start, p)
			}
		}
		l.pos = p
		return token{kind: tokWord, start: start, end: p}
	case c == ';':
		l.pos++
		return token{kind: tokSemi, start: start, end: start + 1}
	}
	n := 1
	switch c {
	case '<', '>', '!', ':', '|', '&', '-':
		rest := s[start:]
		switch {
		case strings.HasPrefix(rest, "<=>") || strings.HasPrefix(rest, "->>"):
			n = 3
		case len(rest) >= 2:
			switch rest[:2] {
			case "<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>", "->":
				n = 2
			}
		}
	}
	l.pos = start + n
	return token{kind: tokPunct, start: start, end: start + n}
}

// scanString lexes a quoted string whose opening quote is at q; the token
// starts at start (before an X/B/N prefix).
func (l *lexer) scanString(start, q int) token {
	s := l.s
	quote := s[q]
	p := q + 1
	for p < len(s) {
		// Jump to the next quote; a backslash before it escapes one byte.
		i := strings.IndexByte(s[p:], quote)
		if i < 0 {
			break
		}
		if j := strings.IndexByte(s[p:p+i], '\\'); j >= 0 && l.mode&ModeNoBackslashEscapes == 0 {
			p += j + 2
			continue
		}
		p += i
		if p+1 < len(s) && s[p+1] == quote { // doubled quote
			p += 2
			continue
		}
		l.pos = p + 1
		return token{kind: tokString, start: start, end: p + 1}
	}
	l.pos = len(s)
	return token{kind: tokError, start: start, end: len(s)}
}

// scanQuotedIdent returns the end of the `quoted identifier` (or, under
// ANSI_QUOTES, "quoted identifier") at start; a doubled quote is part of
// the name.
func scanQuotedIdent(s string, start int) (end int, ok bool) {
	q := s[start]
	for p := start + 1; p < len(s); p++ {
		if s[p] == q {
			if p+1 < len(s) && s[p+1] == q {
				p++
				continue
			}
			return p + 1, true
		}
	}
	return len(s), false
}

// scanVar lexes @name, @'name', @`name`, @@name and @@scope.name.
func (l *lexer) scanVar(start int) token {
	s := l.s
	p := start + 1
	kind := tokUserVar
	if p < len(s) && s[p] == '@' {
		kind = tokSysVar
		p++
		for _, scope := range [...]string{"global.", "session.", "local.", "persist_only.", "persist."} {
			if len(s)-p > len(scope) && eqFold(s[p:p+len(scope)], scope) {
				p += len(scope)
				break
			}
		}
	}
	if p < len(s) && (s[p] == '`' || (kind == tokUserVar && (s[p] == '\'' || s[p] == '"'))) {
		if s[p] == '`' {
			end, ok := scanQuotedIdent(s, p)
			l.pos = end
			if !ok {
				return token{kind: tokError, start: start, end: end}
			}
			return token{kind: kind, start: start, end: end}
		}
		t := l.scanString(p, p)
		if t.kind == tokError {
			return t
		}
		return token{kind: kind, start: start, end: t.end}
	}
	q := p
	for q < len(s) && (identChar[s[q]] || (kind == tokUserVar && s[q] == '.')) {
		q++
	}
	if q == p {
		l.pos = start + 1
		return token{kind: tokPunct, start: start, end: start + 1}
	}
	l.pos = q
	return token{kind: kind, start: start, end: q}
}

// scanNumber lexes a numeric literal. Digits immediately followed by
// identifier characters are an identifier, as in MySQL (1abc); any other
// number (.5, 1.5e3, 0x1F) ends where its syntax ends, so ".5FOR" is a
// number followed by the word FOR, again as the server lexes it.
func (l *lexer) scanNumber(start int) token {
	s := l.s
	p := start
	if s[p] == '0' && p+2 < len(s) && (s[p+1]|0x20 == 'x' || s[p+1]|0x20 == 'b') {
		q := p + 2
		for q < len(s) && isHexOrBin(s[q], s[p+1]|0x20 == 'b') {
			q++
		}
		if q > p+2 {
			l.pos = q
			return token{kind: tokNumber, start: start, end: q}
		}
	}
	for p < len(s) && isDigit(s[p]) {
		p++
	}
	if p < len(s) && identChar[s[p]] && !(s[p]|0x20 == 'e' && p+1 < len(s) && (isDigit(s[p+1]) || s[p+1] == '+' || s[p+1] == '-')) {
		for p < len(s) && identChar[s[p]] {
			p++
		}
		l.pos = p
		return token{kind: tokWord, start: start, end: p}
	}
	if p < len(s) && s[p] == '.' {
		p++
		for p < len(s) && isDigit(s[p]) {
			p++
		}
	}
	if p < len(s) && s[p]|0x20 == 'e' {
		q := p + 1
		if q < len(s) && (s[q] == '+' || s[q] == '-') {
			q++
		}
		if q < len(s) && isDigit(s[q]) {
			for q < len(s) && isDigit(s[q]) {
				q++
			}
			p = q
		}
	}
	l.pos = p
	return token{kind: tokNumber, start: start, end: p}
}

func isHexOrBin(c byte, bin bool) bool {
	if bin {
		return c == '0' || c == '1'
	}
	return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

// scanLeading skips the whitespace and plain comments before the first
// token and parses the first rwproxy hint among those comments. It stops at
// an executable comment, which belongs to the statement.
func scanLeading(s string) (pos int, h Hint) {
	for pos < len(s) {
		c := s[pos]
		switch {
		case isSpace(c):
			pos++
		case c == '#' || (c == '-' && pos+2 <= len(s) && s[pos+1] == '-' && (pos+2 == len(s) || s[pos+2] <= ' ')):
			if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
				pos += i + 1
			} else {
				pos = len(s)
			}
		case c == '/' && pos+1 < len(s) && s[pos+1] == '*':
			body := s[pos+2:]
			if strings.HasPrefix(body, "!") || strings.HasPrefix(body, "M!") {
				return pos, h
			}
			i := strings.Index(body, "*/")
			if i < 0 {
				return pos, h // unterminated: let the lexer report it
			}
			if h.Target == HintNone {
				h = parseHint(body[:i])
			}
			pos += 2 + i + 2
		default:
			return pos, h
		}
	}
	return pos, h
}
