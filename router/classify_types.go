package router

import "strings"

// Kind is the routing class of a statement.
//
// The zero Kind is KindWrite, so a zero Stmt routes to the primary.
type Kind uint8

// Statement kinds.
const (
	// KindWrite is anything that must run on the primary: DML, DDL, CALL,
	// DO, LOAD DATA, GRANT, FLUSH, KILL, HANDLER, SQL-level PREPARE/EXECUTE/
	// DEALLOCATE, SET GLOBAL/PERSIST, EXPLAIN of a write, multi-statements
	// that are not all reads, and every statement the parser rejected
	// (FlagParseError).
	KindWrite Kind = iota
	// KindRead is a SELECT (also TABLE, VALUES, WITH ... SELECT, a UNION of
	// reads), EXPLAIN of a read, HELP. Flags say whether it locks
	// (FlagLockingRead), writes variables or files (FlagSelectInto,
	// FlagUserVarWrite) or depends on session state.
	KindRead
	// KindBegin is BEGIN [WORK] or START TRANSACTION [characteristics].
	KindBegin
	// KindCommit is COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE].
	KindCommit
	// KindRollback is ROLLBACK [WORK] [AND [NO] CHAIN] [[NO] RELEASE]: the
	// whole transaction. ROLLBACK TO is KindSavepoint.
	KindRollback
	// KindSavepoint is SAVEPOINT x or ROLLBACK [WORK] TO [SAVEPOINT] x.
	KindSavepoint
	// KindRelease is RELEASE SAVEPOINT x.
	KindRelease
	// KindXA is any XA statement (START/BEGIN, END, PREPARE, COMMIT,
	// ROLLBACK, RECOVER).
	KindXA
	// KindSet is a SET of session or user variables, NAMES, CHARACTER SET or
	// [SESSION] TRANSACTION characteristics; see Stmt.SetVars. SET GLOBAL and
	// SET PERSIST are KindWrite.
	KindSet
	// KindUse is USE db; see Stmt.DB.
	KindUse
	// KindShow is SHOW ... and DESCRIBE/DESC/EXPLAIN of a table: read-only
	// metadata or server state. SHOW WARNINGS/ERRORS/PROFILE(S) carry
	// FlagPrevStmtInfo.
	KindShow
	// KindEmpty is a query with no statement (only whitespace, comments or
	// ';'). The server answers it with ER_EMPTY_QUERY; any backend will do.
	KindEmpty

	numKinds
)

var kindNames = [numKinds]string{
	KindWrite:     "write",
	KindRead:      "read",
	KindBegin:     "begin",
	KindCommit:    "commit",
	KindRollback:  "rollback",
	KindSavepoint: "savepoint",
	KindRelease:   "release",
	KindXA:        "xa",
	KindSet:       "set",
	KindUse:       "use",
	KindShow:      "show",
	KindEmpty:     "empty",
}

// String returns the lower-case name of k ("read", "write", ...).
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + itoa(int(k)) + ")"
}

// Flags is a set of facts about a statement that matter for routing and
// session-state tracking. The classifier reports facts; the router decides.
type Flags uint64

// Statement flags.
const (
	// FlagLockingRead: FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE (with
	// NOWAIT, SKIP LOCKED, WAIT n, OF t), FLUSH TABLES WITH READ LOCK is
	// FlagLockTables instead.
	FlagLockingRead Flags = 1 << iota
	// FlagSelectInto: SELECT ... INTO @var / OUTFILE / DUMPFILE.
	FlagSelectInto
	// FlagUserVarRead: a user variable (@x) is read.
	FlagUserVarRead
	// FlagUserVarWrite: a user variable is assigned (SET @x, SELECT @x :=, INTO @x).
	FlagUserVarWrite
	// FlagGetLock: GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK.
	FlagGetLock
	// FlagLastInsertID: LAST_INSERT_ID(), @@identity, @@last_insert_id.
	FlagLastInsertID
	// FlagSequence: NEXTVAL(), NEXT VALUE FOR, LASTVAL(), SETVAL(), seq.nextval/currval.
	FlagSequence
	// FlagCreateTempTable: CREATE TEMPORARY TABLE.
	FlagCreateTempTable
	// FlagDropTempTable: DROP TEMPORARY TABLE.
	FlagDropTempTable
	// FlagLockTables: LOCK TABLES (also MariaDB's NOWAIT / WAIT n forms),
	// FLUSH TABLES [t] WITH READ LOCK, FLUSH TABLES t FOR EXPORT: all
	// released by UNLOCK TABLES.
	FlagLockTables
	// FlagUnlockTables: UNLOCK TABLES.
	FlagUnlockTables
	// FlagFoundRows: SQL_CALC_FOUND_ROWS or FOUND_ROWS().
	FlagFoundRows
	// FlagPrepareSQL: SQL-level PREPARE.
	FlagPrepareSQL
	// FlagExecuteSQL: SQL-level EXECUTE.
	FlagExecuteSQL
	// FlagDeallocateSQL: DEALLOCATE PREPARE / DROP PREPARE.
	FlagDeallocateSQL
	// FlagCall: CALL proc.
	FlagCall
	// FlagReadOnlyTxn: START TRANSACTION READ ONLY.
	FlagReadOnlyTxn
	// FlagConsistentSnapshot: START TRANSACTION WITH CONSISTENT SNAPSHOT.
	FlagConsistentSnapshot
	// FlagMulti: the query holds more than one statement.
	FlagMulti
	// FlagParseError: the parser rejected the statement and the lexer could
	// not classify it either; Kind is then KindWrite.
	FlagParseError
	// FlagSetAutocommit: SET autocommit (session); see Stmt.AutocommitValue.
	FlagSetAutocommit
	// FlagSetNames: SET NAMES or SET CHARACTER SET / CHARSET.
	FlagSetNames
	// FlagSetTransaction: SET [SESSION] TRANSACTION ..., or a session
	// assignment of transaction_isolation, tx_isolation,
	// transaction_read_only or tx_read_only.
	FlagSetTransaction
	// FlagSystemVar: SET of another session system variable.
	FlagSystemVar
	// FlagHasHint: a /* rwproxy:... */ hint is present; see Stmt.Hint.
	FlagHasHint
	// FlagSystemVarRead: a system variable (@@x) is read.
	FlagSystemVarRead
	// FlagPrevStmtInfo: the statement reads diagnostics of the previous
	// statement on the same connection (SHOW WARNINGS/ERRORS/PROFILE(S),
	// SHOW COUNT(*) WARNINGS, ROW_COUNT(), @@warning_count, @@error_count),
	// so it must run where the previous statement ran.
	FlagPrevStmtInfo
	// FlagSetOther: a SET form that changes session state the classifier
	// does not model as variables (SET ROLE, SET RESOURCE GROUP, and SET
	// forms only the TiDB parser knows). Kind is KindWrite.
	FlagSetOther
	// FlagKill: KILL [CONNECTION|QUERY] id; the id is a proxy-side id.
	FlagKill
	// FlagHandler: HANDLER ... (opens server-side cursor state).
	FlagHandler
	// FlagFastPath: classified by the lexer alone. Digest is empty; use
	// Classifier.Digest to compute it when needed.
	FlagFastPath
	// FlagBackupLock: MariaDB BACKUP LOCK t (released by BACKUP UNLOCK).
	FlagBackupLock
	// FlagBackupUnlock: MariaDB BACKUP UNLOCK.
	FlagBackupUnlock
	// FlagBackupStage: MariaDB BACKUP STAGE START|FLUSH|BLOCK_DDL|
	// BLOCK_COMMIT (released by BACKUP STAGE END).
	FlagBackupStage
	// FlagBackupStageEnd: MariaDB BACKUP STAGE END.
	FlagBackupStageEnd
	// FlagInstanceLock: MySQL LOCK INSTANCE FOR BACKUP (released by
	// UNLOCK INSTANCE).
	FlagInstanceLock
	// FlagInstanceUnlock: MySQL UNLOCK INSTANCE.
	FlagInstanceUnlock
	// FlagNoConnState: with FlagParseError, the statement is of a shape
	// known to leave no state on its connection (DML or DDL without
	// variables, temporary tables, locks or sequences), so it need not pin
	// the session. A rejected statement without it may have taken a lock
	// or set state rwproxy cannot see.
	FlagNoConnState
	// FlagLoadLocal: LOAD DATA|XML LOCAL INFILE (the server asks the
	// client for the file).
	FlagLoadLocal

	numFlags = iota
)

var flagNames = [numFlags]string{
	"LockingRead", "SelectInto", "UserVarRead", "UserVarWrite", "GetLock",
	"LastInsertID", "Sequence", "CreateTempTable", "DropTempTable", "LockTables",
	"UnlockTables", "FoundRows", "PrepareSQL", "ExecuteSQL", "DeallocateSQL",
	"Call", "ReadOnlyTxn", "ConsistentSnapshot", "Multi", "ParseError",
	"SetAutocommit", "SetNames", "SetTransaction", "SystemVar", "HasHint",
	"SystemVarRead", "PrevStmtInfo", "SetOther", "Kill", "Handler", "FastPath",
	"BackupLock", "BackupUnlock", "BackupStage", "BackupStageEnd", "InstanceLock", "InstanceUnlock",
	"NoConnState", "LoadLocal",
}

// perCallFlags are recomputed on every call and never stored in the Cache.
const perCallFlags = FlagHasHint | FlagFastPath

// Has reports whether all flags in x are set in f.
func (f Flags) Has(x Flags) bool { return f&x == x }

// String lists the names of the set flags separated by ',' (for example
// "LockingRead,Multi"), or "-" when none is set.
func (f Flags) String() string {
	if f == 0 {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < numFlags; i++ {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(flagNames[i])
		}
	}
	if rest := f &^ (1<<numFlags - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("0x")
		const hex = "0123456789abcdef"
		for s := 60; s >= 0; s -= 4 {
			b.WriteByte(hex[(rest>>s)&0xf])
		}
	}
	return b.String()
}

// HintTarget is where a leading rwproxy hint asks the statement to go.
type HintTarget uint8

// Hint targets.
const (
	HintNone      HintTarget = iota // no hint
	HintWriter                      // /* rwproxy:writer */
	HintReader                      // /* rwproxy:reader */
	HintHostgroup                   // /* rwproxy:hostgroup=N */
)

// String returns "none", "writer", "reader" or "hostgroup".
func (t HintTarget) String() string {
	switch t {
	case HintNone:
		return "none"
	case HintWriter:
		return "writer"
	case HintReader:
		return "reader"
	case HintHostgroup:
		return "hostgroup"
	}
	return "hint(" + itoa(int(t)) + ")"
}

// Hint is a routing hint parsed from a comment at statement level (before
// the first keyword, right after it, or at the end; see statementHint):
// /* rwproxy:writer */, /* rwproxy:reader */, /* rwproxy:hostgroup=N */
// or the sqlcommenter form /*rwproxy='writer'*/ (case-insensitive). The
// first valid hint wins; hints elsewhere in the statement are ignored.
type Hint struct {
	Target    HintTarget
	Hostgroup int // for HintHostgroup
}

// Scope is the scope of one SET assignment.
type Scope uint8

// Assignment scopes.
const (
	// ScopeSession: SET x, SET SESSION|LOCAL x, @@x, @@session.x, @@local.x,
	// SET NAMES, SET CHARACTER SET, SET SESSION TRANSACTION.
	ScopeSession Scope = iota
	// ScopeGlobal: SET GLOBAL x, @@global.x, SET GLOBAL TRANSACTION.
	ScopeGlobal
	// ScopePersist: SET PERSIST|PERSIST_ONLY x, @@persist.x, @@persist_only.x (MySQL 8).
	ScopePersist
	// ScopeUser: SET @x.
	ScopeUser
	// ScopeNextTxn: SET TRANSACTION ... without SESSION or GLOBAL, which
	// applies to the next transaction only.
	ScopeNextTxn
)

// String returns "session", "global", "persist", "user" or "next_txn".
func (s Scope) String() string {
	switch s {
	case ScopeSession:
		return "session"
	case ScopeGlobal:
		return "global"
	case ScopePersist:
		return "persist"
	case ScopeUser:
		return "user"
	case ScopeNextTxn:
		return "next_txn"
	}
	return "scope(" + itoa(int(s)) + ")"
}

// SetVar is one assignment of a SET statement.
//
// Name is lower case without '@'/'@@' or scope prefix ("sql_mode", "x" for
// SET @x). SET NAMES is Name "names" with Value "cs" or "cs COLLATE coll";
// SET CHARACTER SET / CHARSET is Name "charset"; both lower-case the
// charset and collation and drop their quotes. SET [SESSION|GLOBAL]
// TRANSACTION yields Name "transaction_isolation" with Value
// 'READ-COMMITTED' (quoted, as the variable accepts it) and/or
// "transaction_read_only" with Value ON or OFF.
//
// Value is otherwise the expression's source text as the client sent it
// (trimmed), so it can be replayed as "SET <scope> <name> = <Value>".
// Literal reports that Value is a single literal (number, string, NULL,
// ON/OFF/TRUE/FALSE/DEFAULT or, for system variables, a bare enum word), so
// replaying it reproduces the same state; an expression (function call,
// variable, subquery) may not.
type SetVar struct {
	Scope   Scope
	Name    string
	Value   string
	Literal bool
}

// Stmt is the classification of one query string. It never aliases the
// classified string: every string field is a copy or a cached constant,
// so a Stmt may be retained after the query buffer is reused.
type Stmt struct {
	Kind  Kind
	Flags Flags
	// Digest is the normalized statement text (see Normalize). Classify
	// leaves it empty for statements classified by the fast path
	// (FlagFastPath) and for KindEmpty; Classifier.Digest computes it on
	// demand, and ClassifyDigest sets it for every statement.
	Digest string
	Hint   Hint
	// DB is the database of USE db.
	DB string
	// SetVars lists the assignments of a SET statement (of every SET in a
	// multi-statement), in order.
	SetVars []SetVar
	// AutocommitValue is 0 or 1 when FlagSetAutocommit is set and the value
	// is a literal, else -1 (also for SET autocommit = DEFAULT or @x). The
	// last assignment wins.
	AutocommitValue int8
}

// itoa formats small non-negative integers without fmt (used by String
// methods of unknown enum values).
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
