package router

// Connection-scoped locks the TiDB parser does not know. A connection
// holding one of them must never go back to the pool, so the lexer
// recognises them (in rescue mode, after the parser rejected the
// statement) and every other rejected statement pins the session unless
// its shape is known to leave no state (FlagNoConnState):
//
//	LOCK TABLE[S] ... (NOWAIT, WAIT n, ...)  FlagLockTables     UNLOCK TABLE[S]   FlagUnlockTables
//	FLUSH ... FOR EXPORT | WITH READ LOCK ... FlagLockTables
//	BACKUP LOCK t                            FlagBackupLock     BACKUP UNLOCK     FlagBackupUnlock
//	BACKUP STAGE START|FLUSH|BLOCK_*         FlagBackupStage    BACKUP STAGE END  FlagBackupStageEnd
//	LOCK INSTANCE FOR BACKUP                 FlagInstanceLock   UNLOCK INSTANCE   FlagInstanceUnlock
//	LOAD DATA|XML [LOW_PRIORITY|CONCURRENT] LOCAL INFILE ... FlagLoadLocal
//
// Each form must be one statement: in a multi-statement the other
// statements are unknown, so the whole stays a parse error (and pins).

// rescueLock classifies LOCK TABLE[S] and LOCK INSTANCE FOR BACKUP (l is
// after LOCK).
func rescueLock(l *lexer, st *Stmt) bool {
	st.Kind = KindWrite
	t := l.next()
	switch {
	case l.isWord(t, "table"), l.isWord(t, "tables"):
		st.Flags |= FlagLockTables
	case l.isWord(t, "instance"):
		if !l.word("for") || !l.word("backup") {
			return false
		}
		st.Flags |= FlagInstanceLock
	default:
		return false
	}
	return l.restIsClean(false)
}

// rescueUnlock classifies UNLOCK TABLE[S] and UNLOCK INSTANCE.
func rescueUnlock(l *lexer, st *Stmt) bool {
	st.Kind = KindWrite
	t := l.next()
	switch {
	case l.isWord(t, "table"), l.isWord(t, "tables"):
		st.Flags |= FlagUnlockTables
	case l.isWord(t, "instance"):
		st.Flags |= FlagInstanceUnlock
	default:
		return false
	}
	return l.atEnd()
}

// rescueBackup classifies MariaDB's BACKUP LOCK, BACKUP UNLOCK and
// BACKUP STAGE.
func rescueBackup(l *lexer, st *Stmt) bool {
	st.Kind = KindWrite
	t := l.next()
	switch {
	case l.isWord(t, "lock"):
		st.Flags |= FlagBackupLock
		return l.restIsClean(false)
	case l.isWord(t, "unlock"):
		st.Flags |= FlagBackupUnlock
		return l.atEnd()
	case l.isWord(t, "stage"):
		t = l.next()
		switch {
		case l.isWord(t, "end"):
			st.Flags |= FlagBackupStageEnd
		case t.kind == tokWord:
			st.Flags |= FlagBackupStage
		default:
			return false
		}
		return l.atEnd()
	}
	return false
}

// rescueFlush classifies the FLUSH forms that take a lock released by
// UNLOCK TABLES: ... FOR EXPORT and ... WITH READ LOCK [AND DISABLE
// CHECKPOINT]. Other rejected FLUSH forms stay parse errors.
func rescueFlush(l *lexer, st *Stmt) bool {
	st.Kind = KindWrite
	lock := false
	prevRead := false
	for {
		t := l.next()
		switch t.kind {
		case tokEOF:
			if !lock {
				return false
			}
			st.Flags |= FlagLockTables
			return true
		case tokError:
			return false
		case tokSemi:
			if l.next().kind != tokEOF || !lock {
				return false
			}
			st.Flags |= FlagLockTables
			return true
		case tokWord:
			if l.isWord(t, "export") || (prevRead && l.isWord(t, "lock")) {
				lock = true
			}
			prevRead = l.isWord(t, "read")
		default:
			prevRead = false
		}
	}
}

// rescueLoad classifies LOAD DATA|XML ... LOCAL INFILE, which the parser
// rejects with MariaDB's CONCURRENT or for LOAD XML.
func rescueLoad(l *lexer, st *Stmt) bool {
	if t := l.next(); !l.isWord(t, "data") && !l.isWord(t, "xml") {
		return false
	}
	t := l.next()
	if l.isWord(t, "low_priority") || l.isWord(t, "concurrent") {
		t = l.next()
	}
	if !l.isWord(t, "local") {
		return false
	}
	st.Kind = KindWrite
	st.Flags |= FlagLoadLocal
	return l.restIsClean(false)
}

// noConnState reports whether the statement at start is one statement of
// a shape that leaves no state on its connection: it starts with a DML or
// DDL keyword (or is SET STATEMENT ... FOR such a statement) and holds no variable and no word that could create
// connection state (temporary tables, locks, sequences, prepared
// statements, LAST_INSERT_ID(expr), ...).
func noConnState(sql string, start int, m SQLMode) bool {
	l := newLexer(sql, start, m)
	t := l.next()
	if t.kind != tokWord {
		return false
	}
	if l.isWord(t, "set") {
		// MariaDB's SET STATEMENT var=value [, ...] FOR stmt: the
		// variables hold for stmt only; stmt must be a safe shape.
		if !l.word("statement") {
			return false
		}
		for t = l.next(); !l.isWord(t, "for"); t = l.next() {
			if t.kind == tokEOF || t.kind == tokError || t.kind == tokSemi || t.kind == tokUserVar {
				return false
			}
		}
		t = l.next()
	}
	if t.kind != tokWord || !safeFirstWord(l.text(t)) {
		return false
	}
	for {
		t = l.next()
		switch t.kind {
		case tokEOF:
			return true
		case tokError, tokUserVar, tokSysVar:
			return false
		case tokSemi:
			return l.next().kind == tokEOF
		case tokPunct:
			if l.s[t.start] == '@' {
				return false
			}
		case tokWord:
			if stateWord(l.text(t)) {
				return false
			}
		}
	}
}

// safeFirstWord lists the statements whose rejected forms (MariaDB
// RETURNING, FOR SYSTEM_TIME, CREATE OR REPLACE, CHECK TABLE, ...) are
// plain queries, DML or DDL.
func safeFirstWord(w string) bool {
	for _, k := range [...]string{"select", "with", "insert", "update", "delete", "replace", "create", "alter", "drop",
		"rename", "truncate", "analyze", "optimize", "check", "checksum", "repair", "grant", "revoke", "load"} {
		if eqFold(w, k) {
			return true
		}
	}
	return false
}

// stateWord lists words that may create connection state in a statement
// that would otherwise be safe.
func stateWord(w string) bool {
	if triggerWord(w) && !eqFold(w, "for") && !eqFold(w, "into") && !eqFold(w, "row_count") {
		return true // lock, next, get_lock and friends, sequences, last_insert_id, found_rows
	}
	for _, k := range [...]string{"temporary", "prepare", "execute", "handler", "backup", "instance", "flush"} {
		if eqFold(w, k) {
			return true
		}
	}
	return false
}
