package router

import "strings"

// The fast path classifies the common trivial statements with the lexer
// alone, without computing a digest and without allocating (USE and SET
// allocate only for the values they return). It is conservative: whenever
// a statement contains anything whose meaning needs the parser it returns
// false and the caller parses.
//
// The same code also rescues statements the TiDB parser rejects (MariaDB
// syntax such as XA, SHOW ALL SLAVES STATUS, BEGIN WORK): in rescue mode a
// SHOW, XA, KILL or HANDLER is recognised by its first keywords whatever
// follows, because the rest cannot change its kind.

// triggerWord reports words that make a SELECT (or SHOW, KILL, ...) need
// the parser: locking clauses, INTO, and functions with session effects.
func triggerWord(w string) bool {
	switch len(w) {
	case 3:
		return eqFold(w, "for")
	case 4:
		return eqFold(w, "lock") || eqFold(w, "into") || eqFold(w, "next")
	case 6:
		return eqFold(w, "setval")
	case 7:
		return eqFold(w, "nextval") || eqFold(w, "lastval") || eqFold(w, "currval")
	case 8:
		return eqFold(w, "previous") || eqFold(w, "get_lock")
	case 9:
		return eqFold(w, "row_count")
	case 10:
		return eqFold(w, "found_rows")
	case 12:
		return eqFold(w, "release_lock") || eqFold(w, "is_used_lock") || eqFold(w, "is_free_lock")
	case 14:
		return eqFold(w, "last_insert_id")
	case 17:
		return eqFold(w, "release_all_locks")
	case 19:
		return eqFold(w, "sql_calc_found_rows")
	}
	return false
}

// classifyFast classifies the statement starting at start, or returns false.
// In rescue mode (the parser already rejected the statement) SHOW, XA, KILL
// and HANDLER accept any tail. It is one flat dispatch on the first
// keyword (by length, then by word), which is longer than our usual
// function but keeps every fast-path entry point in one place.
func classifyFast(sql string, start int, st *Stmt, rescue bool, m SQLMode) bool {
	l := newLexer(sql, start, m)
	t := l.next()
	if t.kind == tokEOF {
		if l.sawExec {
			return false
		}
		st.Kind = KindEmpty
		return true
	}
	if t.kind != tokWord {
		return false
	}
	w := l.text(t)
	switch len(w) {
	case 2:
		if eqFold(w, "xa") {
			st.Kind = KindXA
			return l.restIsClean(!rescue)
		}
	case 3:
		if eqFold(w, "use") {
			return fastUse(&l, st)
		}
		if eqFold(w, "set") {
			return fastSet(&l, st, rescue)
		}
	case 4:
		if eqFold(w, "show") {
			return fastShow(&l, st, rescue)
		}
		if eqFold(w, "kill") {
			st.Kind = KindWrite
			st.Flags |= FlagKill
			return l.restIsClean(!rescue)
		}
		if rescue && eqFold(w, "lock") {
			return rescueLock(&l, st)
		}
		if rescue && eqFold(w, "load") {
			return rescueLoad(&l, st)
		}
	case 5:
		if eqFold(w, "begin") {
			st.Kind = KindBegin
			return l.optWord("work").atEnd()
		}
		if eqFold(w, "start") {
			return fastStart(&l, st)
		}
		if rescue && eqFold(w, "flush") {
			return rescueFlush(&l, st)
		}
	case 6:
		if eqFold(w, "select") {
			st.Kind = KindRead
			return l.restIsClean(true)
		}
		if eqFold(w, "commit") {
			st.Kind = KindCommit
			return l.optWord("work").completion().atEnd()
		}
		if rescue && eqFold(w, "unlock") {
			return rescueUnlock(&l, st)
		}
		if rescue && eqFold(w, "backup") {
			return rescueBackup(&l, st)
		}
	case 7:
		if eqFold(w, "release") {
			st.Kind = KindRelease
			return l.word("savepoint") && l.ident() && l.atEnd()
		}
		if eqFold(w, "handler") {
			st.Kind = KindWrite
			st.Flags |= FlagHandler
			return l.restIsClean(!rescue)
		}
	case 8:
		if eqFold(w, "rollback") {
			return fastRollback(&l, st)
		}
	case 9:
		if eqFold(w, "savepoint") {
			st.Kind = KindSavepoint
			return l.ident() && l.atEnd()
		}
	}
	return false
}

// restIsClean consumes the rest of the statement and reports whether it is
// one complete statement without executable comments and, when strict,
// without variables or trigger words.
func (l *lexer) restIsClean(strict bool) bool {
	for {
		t := l.next()
		switch t.kind {
		case tokEOF:
			return !l.sawExec
		case tokError:
			return false
		case tokSemi:
			return l.next().kind == tokEOF && !l.sawExec
		case tokUserVar, tokSysVar:
			if strict {
				return false
			}
		case tokWord:
			if strict && triggerWord(l.text(t)) {
				return false
			}
		case tokPunct:
			if strict && l.s[t.start] == '@' {
				return false
			}
		}
	}
}

// atEnd reports whether only an optional ';' remains.
func (l *lexer) atEnd() bool {
	t := l.next()
	if t.kind == tokSemi {
		t = l.next()
	}
	return t.kind == tokEOF && !l.sawExec
}

// optWord consumes the next token if it is the word w.
func (l *lexer) optWord(w string) *lexer {
	save := *l
	if !l.isWord(l.next(), w) {
		*l = save
	}
	return l
}

// word consumes the next token and reports whether it is the word w.
func (l *lexer) word(w string) bool { return l.isWord(l.next(), w) }

// ident consumes a non-empty identifier (word, `quoted` or "quoted"). An
// empty quoted name (“) is left to the parser, which reads ROLLBACK TO “
// as a plain ROLLBACK.
func (l *lexer) ident() bool {
	t := l.next()
	switch t.kind {
	case tokWord:
		return true
	case tokQuoted, tokString:
		return t.end-t.start > 2
	}
	return false
}

// completion consumes [AND [NO] CHAIN] [[NO] RELEASE].
func (l *lexer) completion() *lexer {
	save := *l
	if l.word("and") {
		l.optWord("no")
		if !l.word("chain") {
			*l = save
			return l
		}
		save = *l
	}
	l.optWord("no")
	if !l.word("release") {
		*l = save
	}
	return l
}

// fastRollback: ROLLBACK [WORK] TO [SAVEPOINT] x, or ROLLBACK [WORK] [completion].
func fastRollback(l *lexer, st *Stmt) bool {
	l.optWord("work")
	save := *l
	if l.word("to") {
		st.Kind = KindSavepoint
		l.optWord("savepoint")
		return l.ident() && l.atEnd()
	}
	*l = save
	st.Kind = KindRollback
	return l.completion().atEnd()
}

// fastStart: START TRANSACTION [READ ONLY | READ WRITE | WITH CONSISTENT SNAPSHOT [, ...]].
func fastStart(l *lexer, st *Stmt) bool {
	if !l.word("transaction") {
		return false
	}
	st.Kind = KindBegin
	for first := true; ; first = false {
		t := l.next()
		switch {
		case t.kind == tokEOF:
			return !l.sawExec
		case t.kind == tokSemi:
			return l.next().kind == tokEOF && !l.sawExec
		case !first:
			if !l.isPunct(t, ",") {
				return false
			}
			t = l.next()
		}
		switch {
		case l.isWord(t, "read"):
			t = l.next()
			switch {
			case l.isWord(t, "only"):
				st.Flags |= FlagReadOnlyTxn
			case l.isWord(t, "write"):
			default:
				return false
			}
		case l.isWord(t, "with"):
			if !l.word("consistent") || !l.word("snapshot") {
				return false
			}
			st.Flags |= FlagConsistentSnapshot
		default:
			return false
		}
	}
}

// fastShow: SHOW ...; SHOW WARNINGS/ERRORS/PROFILE(S) and SHOW COUNT(*)
// WARNINGS|ERRORS read the previous statement's diagnostics.
func fastShow(l *lexer, st *Stmt, rescue bool) bool {
	st.Kind = KindShow
	save := *l
	t := l.next()
	switch {
	case l.isWord(t, "warnings"), l.isWord(t, "errors"), l.isWord(t, "profile"), l.isWord(t, "profiles"):
		st.Flags |= FlagPrevStmtInfo
	case l.isWord(t, "count"):
		if l.isPunct(l.next(), "(") && l.isPunct(l.next(), "*") && l.isPunct(l.next(), ")") {
			t = l.next()
			if l.isWord(t, "warnings") || l.isWord(t, "errors") {
				st.Flags |= FlagPrevStmtInfo
			}
		}
		*l = save
	default:
		*l = save
	}
	return l.restIsClean(!rescue)
}

// fastUse: USE db.
func fastUse(l *lexer, st *Stmt) bool {
	t := l.next()
	var db string
	switch t.kind {
	case tokWord:
		db = strings.Clone(l.text(t))
	case tokQuoted:
		db = unquoteBacktick(l.text(t))
	default:
		return false
	}
	if !l.atEnd() {
		return false
	}
	st.Kind = KindUse
	st.DB = db
	return true
}

// unquoteBacktick returns the name inside a `quoted identifier` (or an
// ANSI_QUOTES "quoted identifier") as a new string.
func unquoteBacktick(q string) string {
	quote := q[:1]
	q = q[1 : len(q)-1]
	if !strings.Contains(q, quote+quote) {
		return strings.Clone(q)
	}
	return strings.ReplaceAll(q, quote+quote, quote)
}
