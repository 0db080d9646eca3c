package router

import "strings"

// SET is parsed by our own lexer-level parser on every call, because its
// values are per call and the TiDB AST loses what the session needs:
//   - MySQL's sticky scope ("SET GLOBAL a=1, b=2" sets both globally; TiDB
//     makes b a session variable);
//   - SET TRANSACTION (next transaction only) versus SET SESSION
//     TRANSACTION (TiDB maps READ ONLY to the same assignment for both);
//   - the value's source text, which is what the server accepts (a restored
//     TiDB expression adds charset introducers and rewrites MariaDB functions).
// The TiDB parser still validates SET statements whose values contain
// anything beyond literals and variables (subqueries, GET_LOCK, ...), and
// its AST walk supplies those values' flags.

// fastSet classifies a SET statement (l is positioned after SET).
func fastSet(l *lexer, st *Stmt, _ bool) bool {
	kind, ok, needParser := parseSet(l, st)
	st.Kind = kind
	return ok && !needParser
}

// setFromText parses text (one SET statement) into st and returns its kind.
func setFromText(text string, st *Stmt, m SQLMode) (kind Kind, ok bool) {
	start, _ := scanLeading(text)
	l := newLexer(text, start, m)
	if !l.word("set") {
		return KindWrite, false
	}
	kind, ok, _ = parseSet(&l, st)
	return kind, ok
}

// parseSet parses the assignment list after SET, appending to st.SetVars
// and setting st.Flags and st.AutocommitValue. ok is false for forms it does
// not understand (SET PASSWORD, SET ROLE, SET STATEMENT ... FOR, syntax
// errors); needParser reports values whose flags need the AST.
func parseSet(l *lexer, st *Stmt) (kind Kind, ok, needParser bool) {
	kind = KindSet
	if ok, handled := parseSetTransaction(l, st, &kind); handled {
		return kind, ok, false
	}
	sticky := ScopeSession
	for {
		v, good, np := parseAssignment(l, &sticky, st)
		if !good {
			return KindWrite, false, false
		}
		needParser = needParser || np
		st.SetVars = append(st.SetVars, v)
		setVarFlags(v, st)
		if v.Scope == ScopeGlobal || v.Scope == ScopePersist {
			kind = KindWrite
		}
		t := l.next()
		switch {
		case l.isPunct(t, ","):
			continue
		case t.kind == tokSemi:
			t = l.next()
		}
		if t.kind != tokEOF {
			return KindWrite, false, false
		}
		return kind, true, needParser || l.sawExec
	}
}

// scopeKeyword maps GLOBAL, SESSION, LOCAL, PERSIST, PERSIST_ONLY.
func scopeKeyword(w string) (Scope, bool) {
	switch {
	case eqFold(w, "session"), eqFold(w, "local"):
		return ScopeSession, true
	case eqFold(w, "global"):
		return ScopeGlobal, true
	case eqFold(w, "persist"), eqFold(w, "persist_only"):
		return ScopePersist, true
	}
	return 0, false
}

// parseAssignment parses one assignment, leaving the terminator unread.
func parseAssignment(l *lexer, sticky *Scope, st *Stmt) (v SetVar, ok, needParser bool) {
	t := l.next()
	if t.kind == tokWord {
		if sc, isScope := scopeKeyword(l.text(t)); isScope {
			*sticky = sc
			t = l.next()
		}
	}
	if t.kind == tokWord {
		w := l.text(t)
		switch {
		case eqFold(w, "names"):
			return parseCharsetValue(l, "names", true)
		case eqFold(w, "charset"):
			return parseCharsetValue(l, "charset", false)
		case eqFold(w, "character"):
			if !l.word("set") {
				return v, false, false
			}
			return parseCharsetValue(l, "charset", false)
		case eqFold(w, "password"):
			return v, false, false // SET PASSWORD = ... changes the account
		}
	}
	if v.Scope, v.Name, ok = parseTarget(l, t, *sticky); !ok {
		return v, false, false
	}
	if eq := l.next(); !l.isPunct(eq, "=") && !l.isPunct(eq, ":=") {
		return v, false, false
	}
	var flags Flags
	v.Value, v.Literal, flags, ok, needParser = parseSetValue(l, v.Scope == ScopeUser)
	st.Flags |= flags
	return v, ok, needParser
}

// parseTarget returns the scope and lower-case name of the variable token
// t (@user, @@[scope.]sys, `quoted` or a possibly dotted word).
func parseTarget(l *lexer, t token, sticky Scope) (Scope, string, bool) {
	switch t.kind {
	case tokUserVar:
		return ScopeUser, userVarName(l.text(t)), true
	case tokSysVar:
		scope, name := sysVarName(l.text(t))
		return scope, name, true
	case tokQuoted:
		return sticky, strings.ToLower(unquoteBacktick(l.text(t))), true
	case tokWord:
		name := strings.ToLower(l.text(t))
		// Component variables are dotted: validate_password.length.
		for {
			save := *l
			if dot := l.next(); !l.isPunct(dot, ".") {
				*l = save
				return sticky, name, true
			}
			part := l.next()
			if part.kind != tokWord {
				return 0, "", false
			}
			name += "." + strings.ToLower(l.text(part))
		}
	}
	return 0, "", false
}

// parseSetValue scans an expression up to a top-level ',' or the end and
// returns its source text, whether it is a single literal, the flags of the
// variables it reads, and whether it needs the parser.
func parseSetValue(l *lexer, userVar bool) (text string, literal bool, flags Flags, ok, needParser bool) {
	depth, n := 0, 0
	var first, last token
	for {
		save := *l
		t := l.next()
		switch t.kind {
		case tokError:
			return "", false, 0, false, false
		case tokEOF, tokSemi:
			*l = save
			goto done
		case tokPunct:
			switch l.text(t) {
			case "(":
				depth++
			case ")":
				depth--
				if depth < 0 {
					return "", false, 0, false, false
				}
			case ",":
				if depth == 0 {
					*l = save
					goto done
				}
			case ":=", "@":
				needParser = true
			}
		case tokWord:
			if triggerWord(l.text(t)) || eqFold(l.text(t), "select") {
				needParser = true
			}
		case tokUserVar:
			flags |= FlagUserVarRead
		case tokSysVar:
			flags |= FlagSystemVarRead | sysVarReadFlags(sysVarBareName(l.text(t)))
		}
		if n == 0 {
			first = t
		}
		last = t
		n++
	}
done:
	if n == 0 || depth != 0 {
		return "", false, 0, false, false
	}
	text = strings.Clone(l.s[first.start:last.end])
	return text, isLiteral(l, first, last, n, userVar), flags, true, needParser
}

// isLiteral reports whether a value of n tokens from first to last is a
// single literal: a string, a signed or unsigned number, or a word (NULL,
// TRUE, FALSE, and for system variables also ON, OFF, DEFAULT and enum
// values; for user variables a bare word is a column reference).
func isLiteral(l *lexer, first, last token, n int, userVar bool) bool {
	switch n {
	case 1:
		switch first.kind {
		case tokString, tokNumber:
			return true
		case tokWord:
			w := l.text(first)
			return !userVar || eqFold(w, "null") || eqFold(w, "true") || eqFold(w, "false")
		}
	case 2:
		return last.kind == tokNumber && (l.isPunct(first, "-") || l.isPunct(first, "+"))
	}
	return false
}

// parseCharsetValue parses the rest of SET NAMES {cs | DEFAULT} [COLLATE
// coll] (withCollate) or SET CHARACTER SET {cs | DEFAULT}.
func parseCharsetValue(l *lexer, name string, withCollate bool) (v SetVar, ok, needParser bool) {
	v = SetVar{Scope: ScopeSession, Name: name, Literal: true}
	cs, good := charsetName(l, l.next())
	if !good {
		return v, false, false
	}
	v.Value = cs
	if withCollate {
		save := *l
		if l.word("collate") {
			coll, good := charsetName(l, l.next())
			if !good {
				return v, false, false
			}
			v.Value += " COLLATE " + coll
		} else {
			*l = save
		}
	}
	return v, true, false
}

// charsetName returns a charset or collation name (word, 'string' or
// `quoted`), lower-cased and unquoted.
func charsetName(l *lexer, t token) (string, bool) {
	switch t.kind {
	case tokWord:
		return strings.ToLower(l.text(t)), true
	case tokQuoted:
		return strings.ToLower(unquoteBacktick(l.text(t))), true
	case tokString:
		s := l.text(t)
		if s[0] != '\'' && s[0] != '"' {
			return "", false // X'..', N'..'
		}
		return strings.ToLower(unquoteString(s)), true
	}
	return "", false
}

// parseSetTransaction parses SET [GLOBAL|SESSION] TRANSACTION characteristics.
// handled is false when the statement is not of that form.
func parseSetTransaction(l *lexer, st *Stmt, kind *Kind) (ok, handled bool) {
	save := *l
	t := l.next()
	scope := ScopeNextTxn
	switch {
	case l.isWord(t, "global"):
		scope = ScopeGlobal
		t = l.next()
	case l.isWord(t, "session"):
		scope = ScopeSession
		t = l.next()
	}
	if !l.isWord(t, "transaction") {
		*l = save
		return false, false
	}
	if scope == ScopeGlobal {
		*kind = KindWrite
	} else {
		st.Flags |= FlagSetTransaction
	}
	for {
		name, value, good := txnCharacteristic(l)
		if !good {
			return false, true
		}
		st.SetVars = append(st.SetVars, SetVar{Scope: scope, Name: name, Value: value, Literal: true})
		save := *l
		if !l.isPunct(l.next(), ",") {
			*l = save
			return l.atEnd(), true
		}
	}
}

// txnCharacteristic parses ISOLATION LEVEL level | READ ONLY | READ WRITE
// into the variable it sets.
func txnCharacteristic(l *lexer) (name, value string, ok bool) {
	t := l.next()
	switch {
	case l.isWord(t, "isolation"):
		if !l.word("level") {
			return "", "", false
		}
		level, good := isolationLevel(l)
		return "transaction_isolation", level, good
	case l.isWord(t, "read"):
		t = l.next()
		switch {
		case l.isWord(t, "only"):
			return "transaction_read_only", "ON", true
		case l.isWord(t, "write"):
			return "transaction_read_only", "OFF", true
		}
	}
	return "", "", false
}

// isolationLevel parses READ UNCOMMITTED | READ COMMITTED | REPEATABLE READ
// | SERIALIZABLE and returns the transaction_isolation value.
func isolationLevel(l *lexer) (string, bool) {
	t := l.next()
	switch {
	case l.isWord(t, "read"):
		t = l.next()
		switch {
		case l.isWord(t, "uncommitted"):
			return "'READ-UNCOMMITTED'", true
		case l.isWord(t, "committed"):
			return "'READ-COMMITTED'", true
		}
	case l.isWord(t, "repeatable"):
		if l.word("read") {
			return "'REPEATABLE-READ'", true
		}
	case l.isWord(t, "serializable"):
		return "'SERIALIZABLE'", true
	}
	return "", false
}

// setVarFlags adds the flags of one assignment.
func setVarFlags(v SetVar, st *Stmt) {
	switch v.Scope {
	case ScopeUser:
		st.Flags |= FlagUserVarWrite
		return
	case ScopeGlobal, ScopePersist:
		return
	}
	switch v.Name {
	case "names", "charset":
		st.Flags |= FlagSetNames
	case "autocommit":
		st.Flags |= FlagSetAutocommit
		st.AutocommitValue = autocommitValue(v)
	case "transaction_isolation", "tx_isolation", "transaction_read_only", "tx_read_only":
		st.Flags |= FlagSetTransaction
	default:
		st.Flags |= FlagSystemVar
	}
}

// autocommitValue returns 0 or 1 for literal boolean values, else -1.
func autocommitValue(v SetVar) int8 {
	if !v.Literal {
		return -1
	}
	s := v.Value
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') {
		s = s[1 : len(s)-1]
	}
	switch {
	case s == "1", eqFold(s, "on"), eqFold(s, "true"):
		return 1
	case s == "0", eqFold(s, "off"), eqFold(s, "false"):
		return 0
	}
	return -1
}

// sysVarName splits @@[scope.]name into its scope and lower-case name.
func sysVarName(text string) (Scope, string) {
	s := text[2:]
	scope := ScopeSession
	if i := strings.IndexByte(s, '.'); i > 0 && s[0] != '`' {
		if sc, ok := scopeKeyword(s[:i]); ok {
			scope, s = sc, s[i+1:]
		}
	}
	if len(s) > 1 && s[0] == '`' {
		s = unquoteBacktick(s)
	}
	return scope, strings.ToLower(s)
}

// sysVarBareName returns the name of @@[scope.]name without allocating
// (for flag checks; quoted names are returned quoted).
func sysVarBareName(text string) string {
	s := text[2:]
	if i := strings.IndexByte(s, '.'); i > 0 && s[0] != '`' {
		if _, ok := scopeKeyword(s[:i]); ok {
			return s[i+1:]
		}
	}
	return s
}

// sysVarReadFlags returns the flags of reading system variable name.
func sysVarReadFlags(name string) Flags {
	switch {
	case eqFold(name, "warning_count"), eqFold(name, "error_count"):
		return FlagPrevStmtInfo
	case eqFold(name, "identity"), eqFold(name, "last_insert_id"):
		return FlagLastInsertID
	}
	return 0
}

// userVarName returns the lower-case name of @name, @'name', @"name" or @`name`.
func userVarName(text string) string {
	s := text[1:]
	if len(s) >= 2 {
		switch s[0] {
		case '`':
			return strings.ToLower(unquoteBacktick(s))
		case '\'', '"':
			return strings.ToLower(unquoteString(s))
		}
	}
	return strings.ToLower(s)
}

// unquoteString removes the quotes of a '...' or "..." literal and undoes
// doubled quotes and backslash escapes of the quote and backslash.
func unquoteString(q string) string {
	quote := q[0]
	q = q[1 : len(q)-1]
	if strings.IndexByte(q, '\\') < 0 && strings.IndexByte(q, quote) < 0 {
		return strings.Clone(q)
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if (c == '\\' || c == quote) && i+1 < len(q) {
			i++
			c = q[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}
