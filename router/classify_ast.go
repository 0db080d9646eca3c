package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// flagWalker collects Flags from an AST. It is a field of the Classifier so
// that passing it as an ast.Visitor does not allocate.
type flagWalker struct{ flags Flags }

var _ ast.Visitor = (*flagWalker)(nil)

// Enter implements ast.Visitor. It is one type switch with a case per
// node kind that carries a flag; splitting it would only hide the list.
func (w *flagWalker) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		if x.LockInfo != nil && x.LockInfo.LockType != ast.SelectLockNone {
			w.flags |= FlagLockingRead
		}
		if x.SelectStmtOpts != nil && x.SelectStmtOpts.CalcFoundRows {
			w.flags |= FlagFoundRows
		}
		if x.SelectIntoOpt != nil {
			w.flags |= FlagSelectInto
			if x.SelectIntoOpt.Tp == ast.SelectIntoVars {
				w.flags |= FlagUserVarWrite
			}
		}
	case *ast.FuncCallExpr:
		w.flags |= funcFlags(x.FnName.L)
	case *ast.VariableExpr:
		switch {
		case x.IsSystem:
			w.flags |= FlagSystemVarRead | sysVarReadFlags(x.Name)
		case x.Value != nil:
			w.flags |= FlagUserVarWrite
		default:
			w.flags |= FlagUserVarRead
		}
	case *ast.ColumnNameExpr:
		// MariaDB's Oracle-mode seq.nextval / seq.currval.
		if x.Name.Table.L != "" && (x.Name.Name.L == "nextval" || x.Name.Name.L == "currval") {
			w.flags |= FlagSequence
		}
	case *ast.CreateTableStmt:
		if x.TemporaryKeyword != ast.TemporaryNone {
			w.flags |= FlagCreateTempTable
		}
	case *ast.DropTableStmt:
		if x.TemporaryKeyword != ast.TemporaryNone {
			w.flags |= FlagDropTempTable
		}
	case *ast.LockTablesStmt:
		w.flags |= FlagLockTables
	case *ast.UnlockTablesStmt:
		w.flags |= FlagUnlockTables
	case *ast.FlushStmt:
		if x.ReadLock {
			w.flags |= FlagLockTables
		}
	case *ast.LoadDataStmt:
		if x.FileLocRef == ast.FileLocClient {
			w.flags |= FlagLoadLocal
		}
	case *ast.PrepareStmt:
		w.flags |= FlagPrepareSQL
	case *ast.ExecuteStmt:
		w.flags |= FlagExecuteSQL
	case *ast.DeallocateStmt:
		w.flags |= FlagDeallocateSQL
	case *ast.CallStmt:
		w.flags |= FlagCall
	case *ast.KillStmt:
		w.flags |= FlagKill
	case *ast.BeginStmt:
		if x.ReadOnly {
			w.flags |= FlagReadOnlyTxn
		}
	case *ast.ShowStmt:
		switch x.Tp {
		case ast.ShowWarnings, ast.ShowErrors, ast.ShowProfile, ast.ShowProfiles:
			w.flags |= FlagPrevStmtInfo
		}
	}
	return n, false
}

// Leave implements ast.Visitor.
func (w *flagWalker) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// funcFlags returns the flags of calling the function with lower-case name.
func funcFlags(name string) Flags {
	switch name {
	case "get_lock", "release_lock", "release_all_locks", "is_used_lock", "is_free_lock":
		return FlagGetLock
	case "last_insert_id":
		return FlagLastInsertID
	case "found_rows":
		return FlagFoundRows
	case "nextval", "lastval", "setval":
		return FlagSequence
	case "row_count":
		return FlagPrevStmtInfo
	}
	return 0
}

// stmtKind returns the Kind of one parsed statement. SET is refined by
// the caller.
func stmtKind(n ast.StmtNode) Kind {
	switch x := n.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt, *ast.HelpStmt:
		return KindRead
	case *ast.ShowStmt:
		return KindShow
	case *ast.ExplainStmt:
		// DESCRIBE t is EXPLAIN of SHOW COLUMNS; EXPLAIN [ANALYZE] of a read
		// is a read; EXPLAIN of a write (which ANALYZE would execute) is a write.
		switch stmtKind(x.Stmt) {
		case KindShow:
			return KindShow
		case KindRead:
			return KindRead
		}
		return KindWrite
	case *ast.BeginStmt:
		return KindBegin
	case *ast.CommitStmt:
		return KindCommit
	case *ast.RollbackStmt:
		if x.SavepointName != "" {
			return KindSavepoint
		}
		return KindRollback
	case *ast.SavepointStmt:
		return KindSavepoint
	case *ast.ReleaseSavepointStmt:
		return KindRelease
	case *ast.UseStmt:
		return KindUse
	case *ast.SetStmt:
		return KindSet
	}
	return KindWrite
}

// combineKinds folds the kinds of a multi-statement: reads (and SHOWs)
// stay reads, anything else makes the whole a write.
func combineKinds(a, b Kind) Kind {
	isRead := func(k Kind) bool { return k == KindRead || k == KindShow }
	switch {
	case a == b && isRead(a):
		return a
	case isRead(a) && isRead(b):
		return KindRead
	}
	return KindWrite
}

// fromAST fills st from parsed statements. text is the query as parsed,
// start the offset of its first token. It reports whether the result holds
// per-call data (SET values, USE db) and so must not be cached.
func (c *Classifier) fromAST(text string, start int, stmts []ast.StmtNode, st *Stmt) (perCall bool) {
	if len(stmts) == 0 {
		st.Kind = KindEmpty
		return false
	}
	if len(stmts) > 1 {
		st.Flags |= FlagMulti
	}
	for i, s := range stmts {
		c.walker.flags = 0
		s.Accept(&c.walker)
		st.Flags |= c.walker.flags
		// Per-statement source text; a single statement is the whole query
		// (the parser's text for it may lack leading executable comments).
		stext := text[start:]
		if len(stmts) > 1 {
			stext = s.OriginalText()
		}
		k := stmtKind(s)
		switch x := s.(type) {
		case *ast.SetStmt:
			perCall = true
			k = c.setFromAST(stext, st)
		case *ast.UseStmt:
			perCall = true
			st.DB = strings.Clone(x.DBName)
		case *ast.BeginStmt:
			// The AST does not record WITH CONSISTENT SNAPSHOT.
			var b Stmt
			if classifyFast(stext, 0, &b, true, c.mode.lex) && b.Kind == KindBegin {
				st.Flags |= b.Flags & FlagConsistentSnapshot
			} else if hasWord(stext, "consistent", c.mode.lex) {
				st.Flags |= FlagConsistentSnapshot
			}
		case *ast.SetPwdStmt, *ast.SetDefaultRoleStmt, *ast.SetConfigStmt, *ast.SetBindingStmt:
			// Writes to the grant tables or cluster configuration.
		case *ast.SetRoleStmt, *ast.SetResourceGroupStmt, *ast.SetSessionStatesStmt:
			st.Flags |= FlagSetOther
		}
		if i == 0 {
			st.Kind = k
		} else {
			st.Kind = combineKinds(st.Kind, k)
		}
	}
	return perCall
}

// setFromAST parses a SET the TiDB parser accepted with our own SET parser
// for the assignments. A form our parser does not know is conservatively a
// write with FlagSetOther.
func (c *Classifier) setFromAST(stext string, st *Stmt) Kind {
	tmp := Stmt{AutocommitValue: st.AutocommitValue}
	kind, ok := setFromText(stext, &tmp, c.mode.lex)
	if !ok {
		st.Flags |= FlagSetOther
		return KindWrite
	}
	st.Flags |= tmp.Flags
	st.SetVars = append(st.SetVars, tmp.SetVars...)
	st.AutocommitValue = tmp.AutocommitValue
	return kind
}

// hasWord reports whether text contains the unquoted word w (lower case).
func hasWord(text, w string, m SQLMode) bool {
	l := newLexer(text, 0, m)
	for {
		t := l.next()
		switch t.kind {
		case tokEOF, tokError:
			return false
		case tokWord:
			if eqFold(l.text(t), w) {
				return true
			}
		}
	}
}
