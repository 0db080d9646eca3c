package router

// Statements longer than the Classifier's parse limit (limits.
// full_parse_max_length) are not given to the TiDB parser, whose cost is
// 150-250 times a statement's size (a 10 MB IN list took 38 s and 1.7 GiB,
// a 15 MB extended INSERT 20 s and 739 MiB). They are classified from
// their tokens, in one pass of the lexer, conservatively: a statement the
// fast path proves a plain read is a read; anything else is a write to the
// primary (FlagParseError, as for a statement the parser rejects), and
// every word that could leave state in the session sets the flag that makes
// the session keep it, whether or not the parser would have (a flag too
// many pins a connection longer; a flag too few would lose a temporary
// table or a lock).

// SetParseLimit makes statements longer than n bytes skip the TiDB parser
// (0: parse everything).
func (c *Classifier) SetParseLimit(n int) { c.parseLimit = n }

// tooLong reports whether sql is over the parse limit.
func (c *Classifier) tooLong(sql string) bool { return c.parseLimit > 0 && len(sql) > c.parseLimit }

// classifyLong classifies a statement over the parse limit that the fast
// path did not prove a plain read.
func classifyLong(sql string, start int, st *Stmt) {
	st.Kind = KindWrite
	st.Flags |= FlagParseError
	l := lexer{s: sql, pos: start}
	first := true
	for t := l.next(); t.kind != tokEOF && t.kind != tokError; t = l.next() {
		switch t.kind {
		case tokSemi:
			st.Flags |= FlagMulti
		case tokUserVar:
			st.Flags |= FlagUserVarWrite | FlagUserVarRead
		case tokWord:
			st.Flags |= longWordFlags(l.text(t), first)
		}
		first = false
	}
}

// longWordFlags is the session-state flag a word may stand for.
func longWordFlags(w string, first bool) Flags {
	switch {
	case eqFold(w, "temporary"):
		return FlagCreateTempTable | FlagDropTempTable
	case eqFold(w, "get_lock"), eqFold(w, "release_lock"), eqFold(w, "release_all_locks"):
		return FlagGetLock
	case eqFold(w, "last_insert_id"):
		return FlagLastInsertID
	case eqFold(w, "found_rows"), eqFold(w, "sql_calc_found_rows"), eqFold(w, "row_count"):
		return FlagFoundRows
	case eqFold(w, "nextval"), eqFold(w, "setval"), eqFold(w, "lastval"), eqFold(w, "currval"):
		return FlagSequence
	case first && eqFold(w, "lock"):
		return FlagLockTables
	case first && eqFold(w, "unlock"):
		return FlagUnlockTables
	case first && eqFold(w, "prepare"):
		return FlagPrepareSQL
	case first && eqFold(w, "call"):
		return FlagCall
	}
	return 0
}
