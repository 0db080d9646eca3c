package router

import "strings"

// Routing hints are read from plain block comments at statement level:
//   - before the first keyword: /* rwproxy:writer */ SELECT ...
//   - right after the first keyword: SELECT /* rwproxy:writer */ ...
//   - at the end, before or after a final ';' (nothing but blanks and ';'
//     after it): SELECT ... /* rwproxy:writer */
//
// in two spellings: rwproxy:writer | rwproxy:reader | rwproxy:hostgroup=N,
// and the sqlcommenter form, a comma-separated list of key='value' pairs
// with URL-encoded values, where the key rwproxy carries the same values:
// /*rwproxy='writer'*/, /*action='list',rwproxy='hostgroup%3D20'*/
// (hostgroup=N unencoded is accepted too). Keys and words are
// case-insensitive. The first hint in that order wins.
//
// Optimizer hints /*+ ... */, executable comments /*! ... */ and /*M! ...
// */ (which the server runs), comments elsewhere in the statement, line
// comments and string literals are never read as hints: comments are found
// by the lexer, under the session's SQL mode.

// statementHint returns the hint of a comment right after the first
// keyword or at the end of sql, whose first token is at start. It costs
// one substring search when sql has no block comment after start, and
// lexes the statement only when a block comment ends it.
func statementHint(sql string, start int, m SQLMode) Hint {
	if !strings.Contains(sql[start:], "/*") {
		return Hint{}
	}
	l := newLexer(sql, start, m)
	if t := l.next(); t.kind == tokEOF || t.kind == tokError {
		return Hint{}
	}
	l.hints = true
	t := l.next() // the comments before it follow the first keyword
	if l.hint.Target != HintNone {
		return l.hint
	}
	if !strings.HasSuffix(strings.TrimRight(sql, " \t\r\n;"), "*/") {
		return Hint{} // no comment at the end
	}
	// Find the comments after the last token (before or after a final
	// ';'): lexing the whole statement keeps string contents out.
	var beforeSemi Hint
	for {
		switch t.kind {
		case tokEOF:
			if l.hint.Target != HintNone {
				return l.hint
			}
			return beforeSemi
		case tokError:
			return Hint{}
		case tokSemi:
			beforeSemi = l.hint
		default:
			beforeSemi = Hint{}
		}
		l.hint = Hint{}
		t = l.next()
	}
}

// parseHint parses the body of a block comment as a hint; anything else
// (including an optimizer hint's "+ ...") is not one.
func parseHint(body string) Hint {
	body = strings.TrimSpace(body)
	const prefix = "rwproxy"
	if len(body) <= len(prefix) || !eqFold(body[:len(prefix)], prefix) {
		if strings.IndexByte(body, '=') < 0 || strings.IndexByte(body, '\'') < 0 {
			return Hint{}
		}
		return sqlcommenterHint(body)
	}
	switch body[len(prefix)] {
	case ':':
		return hintValue(strings.TrimSpace(body[len(prefix)+1:]))
	case '=':
		return sqlcommenterHint(body)
	}
	return Hint{}
}

// sqlcommenterHint finds the pair rwproxy='value' in a comma-separated
// sqlcommenter list.
func sqlcommenterHint(body string) Hint {
	for body != "" {
		var item string
		item, body, _ = strings.Cut(body, ",")
		item = strings.TrimSpace(item)
		const key = "rwproxy="
		if len(item) < len(key)+2 || !eqFold(item[:len(key)], key) {
			continue
		}
		v := item[len(key):]
		if v[0] != '\'' || v[len(v)-1] != '\'' {
			return Hint{}
		}
		return hintValue(v[1 : len(v)-1])
	}
	return Hint{}
}

// hintValue parses "writer", "reader", "hostgroup=N" or (URL-encoded)
// "hostgroup%3DN".
func hintValue(v string) Hint {
	switch {
	case eqFold(v, "writer"):
		return Hint{Target: HintWriter}
	case eqFold(v, "reader"):
		return Hint{Target: HintReader}
	case len(v) > 9 && eqFold(v[:9], "hostgroup"):
		v = strings.TrimSpace(v[9:])
		switch {
		case len(v) >= 2 && v[0] == '=':
			v = v[1:]
		case len(v) >= 4 && eqFold(v[:3], "%3d"):
			v = v[3:]
		default:
			return Hint{}
		}
		v = strings.TrimSpace(v)
		n := 0
		for i := 0; i < len(v); i++ {
			if !isDigit(v[i]) || n > (1<<31-1)/10-1 {
				return Hint{}
			}
			n = n*10 + int(v[i]-'0')
		}
		if v == "" {
			return Hint{}
		}
		return Hint{Target: HintHostgroup, Hostgroup: n}
	}
	return Hint{}
}
