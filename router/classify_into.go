package router

import "strings"

// The TiDB parser rejects SELECT ... INTO @var (in either position) and
// SELECT ... INTO OUTFILE|DUMPFILE before FROM. rescueSelectInto blanks the
// INTO clause out (keeping offsets) and parses the rest, so that such a
// statement still gets its real kind and flags plus FlagSelectInto (and
// FlagUserVarWrite for variables).

// intoClauseEnd lists the words that end an INTO OUTFILE clause's options.
func endsIntoClause(w string) bool {
	for _, k := range [...]string{"from", "where", "group", "having", "window", "order", "limit", "for", "lock", "union", "except", "intersect"} {
		if eqFold(w, k) {
			return true
		}
	}
	return false
}

// findInto returns the span of the top-level INTO clause of a SELECT and
// whether it assigns variables.
func findInto(sql string, start int, m SQLMode) (from, to int, vars, ok bool) {
	l := newLexer(sql, start, m)
	t := l.next()
	for l.isPunct(t, "(") {
		t = l.next()
	}
	if !l.isWord(t, "select") {
		return 0, 0, false, false
	}
	depth := 0
	for {
		t = l.next()
		switch {
		case t.kind == tokEOF || t.kind == tokError || t.kind == tokSemi:
			return 0, 0, false, false
		case l.isPunct(t, "("):
			depth++
		case l.isPunct(t, ")"):
			depth--
		case depth <= 0 && l.isWord(t, "into"):
			from = t.start
			to, vars, ok = intoTail(&l)
			return from, to, vars, ok
		}
	}
}

// intoTail parses what follows INTO and returns the end of the clause.
func intoTail(l *lexer) (end int, vars, ok bool) {
	t := l.next()
	switch {
	case t.kind == tokUserVar:
		end = t.end
		for {
			save := *l
			if !l.isPunct(l.next(), ",") {
				*l = save
				return end, true, true
			}
			v := l.next()
			if v.kind != tokUserVar {
				return 0, false, false
			}
			end = v.end
		}
	case l.isWord(t, "outfile") || l.isWord(t, "dumpfile"):
		f := l.next()
		if f.kind != tokString {
			return 0, false, false
		}
		end = f.end
		for {
			save := *l
			t = l.next()
			switch {
			case t.kind == tokEOF || t.kind == tokSemi || l.isPunct(t, ")") ||
				(t.kind == tokWord && endsIntoClause(l.text(t))):
				*l = save
				return end, false, true
			case t.kind == tokError:
				return 0, false, false
			}
			end = t.end
		}
	}
	return 0, false, false
}

// rescueSelectInto classifies a SELECT with an INTO clause the parser
// rejected. It reports false when that is not the problem.
func (c *Classifier) rescueSelectInto(sql string, start int, st *Stmt) bool {
	from, to, vars, ok := findInto(sql, start, c.mode.lex)
	if !ok {
		return false
	}
	blanked := sql[:from] + strings.Repeat(" ", to-from) + sql[to:]
	stmts, err := c.parseSQL(blanked)
	if err != nil {
		return false
	}
	tmp := *st
	c.fromAST(blanked, start, stmts, &tmp)
	tmp.Flags |= FlagSelectInto
	if vars {
		tmp.Flags |= FlagUserVarWrite
	}
	*st = tmp
	return true
}
