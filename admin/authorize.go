package admin

import (
	"fmt"
	"strings"

	"modernc.org/sqlite"
)

// authorize is the SQLite authorizer of the engine's connection. Operator
// statements may read anything, write only the MEMORY configuration tables,
// and run no DDL, ATTACH or PRAGMA with side effects. It runs during
// prepare, on the goroutine that holds e.mu.
func (e *engine) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, db, _ string) sqlite.AuthorizerReturnCode {
	if e.internal.Load() {
		return sqlite.AuthorizerOK
	}
	if e.mu.readOnly {
		if action == sqlite.AuthInsert || action == sqlite.AuthUpdate || action == sqlite.AuthDelete {
			e.mu.wrote = true
		}
		return e.authorizeReadOnly(action, arg1, arg2, db)
	}
	switch action {
	case sqlite.AuthRead:
		e.noteRead(db, arg1)
		return sqlite.AuthorizerOK
	case sqlite.AuthSelect, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete:
		e.mu.wrote = true
		if e.adminReadOnly.Load() {
			e.deny("the admin interface is read-only (PROXYSQL READONLY); PROXYSQL READWRITE leaves that mode")
			return sqlite.AuthorizerDeny
		}
		if strings.EqualFold(db, schemaMain) && editable(arg1) {
			return sqlite.AuthorizerOK
		}
		if !strings.HasPrefix(strings.ToLower(arg1), "sqlite_") { // DDL writes sqlite_master: keep its own reason
			e.deny(readOnlyMessage(db, arg1))
		}
		return sqlite.AuthorizerDeny
	case sqlite.AuthPragma:
		if arg2 == "" && safePragmas[strings.ToLower(arg1)] {
			return sqlite.AuthorizerOK
		}
		e.deny("PRAGMA " + arg1 + " is not allowed on the admin interface")
		return sqlite.AuthorizerDeny
	}
	e.deny("this statement is not allowed on the admin interface: only SELECT, and INSERT, REPLACE, UPDATE " +
		"and DELETE on the configuration tables (plus LOAD, SAVE, SET and SHOW) are")
	return sqlite.AuthorizerDeny
}

// noteRead records that the statement being prepared reads table of db,
// for the refresh of runtime and stats tables before it runs.
func (e *engine) noteRead(db, table string) {
	if e.mu.reads == nil {
		return
	}
	// A table read without any column (SELECT COUNT(*) FROM t) comes with
	// no schema name: anySchema stands for any.
	if db == "" {
		db = anySchema
	}
	e.mu.reads[strings.ToLower(db+"."+table)] = true
}

// deny records the first reason the authorizer refused the statement.
func (e *engine) deny(reason string) {
	if e.mu.denied == "" {
		e.mu.denied = reason
	}
}

// anySchema marks a read whose schema SQLite did not name.
const anySchema = "*"

// safePragmas may be queried (never set) by operators.
var safePragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "index_list": true, "index_info": true,
	"database_list": true, "table_list": true,
}

// editable reports whether name is a MEMORY configuration table.
func editable(name string) bool {
	for _, t := range configTables {
		if strings.EqualFold(t.name, name) {
			return true
		}
	}
	return false
}

func readOnlyMessage(db, name string) string {
	lname := strings.ToLower(name)
	switch {
	case strings.HasPrefix(lname, runtimePrefix):
		base := strings.TrimPrefix(lname, runtimePrefix)
		return fmt.Sprintf("table %s is read-only: it shows what runs now; edit %s and run LOAD ... TO RUNTIME", name, base)
	case strings.EqualFold(db, schemaDisk):
		return fmt.Sprintf("table disk.%s is read-only: edit %s and run SAVE ... TO DISK", name, name)
	case strings.EqualFold(db, schemaStats) || strings.EqualFold(db, schemaMonitor):
		return fmt.Sprintf("table %s.%s is read-only", db, name)
	}
	return fmt.Sprintf("table %s.%s cannot be changed", db, name)
}
