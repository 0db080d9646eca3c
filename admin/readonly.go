package admin

import (
	"context"
	"strings"

	"modernc.org/sqlite"
)

// The read-only account (admin.stats_username, ProxySQL's
// admin-stats_credentials) may read the stats and monitor schemas and the
// runtime tables that hold no password; it may not change anything, run
// LOAD or SAVE, or set a variable. The engine enforces it in SQLite's
// authorizer, so every path to a table (a sub-select, a CTE, SHOW
// VARIABLES rewritten to a SELECT) is covered.

type readOnlyKey struct{}

// withReadOnly marks ctx as a read-only account's statement.
func withReadOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

func isReadOnly(ctx context.Context) bool {
	ro, _ := ctx.Value(readOnlyKey{}).(bool)
	return ro
}

// secretRuntimeTables are runtime tables that show passwords.
var secretRuntimeTables = map[string]bool{
	runtimePrefix + "mysql_users":      true,
	runtimePrefix + "global_variables": true,
}

// readableByStats reports whether the read-only account may read table
// name of schema db ("" when SQLite does not name it).
func (e *engine) readableByStats(db, name string) bool {
	db, name = strings.ToLower(db), strings.ToLower(name)
	switch db {
	case schemaStats, schemaMonitor:
		return true
	case schemaDisk:
		return false
	}
	if name == "sqlite_master" || name == "sqlite_schema" {
		return true // table names and DDL: SHOW TABLES
	}
	if strings.HasPrefix(name, runtimePrefix) {
		return !secretRuntimeTables[name]
	}
	if db == "" || db == schemaTemp {
		return e.statsNames[name]
	}
	return false
}

// schemaTemp is SQLite's schema of temporary tables.
const schemaTemp = "temp"

// loadStatsNames records the stats and monitor tables' names, for the
// reads SQLite reports without a schema. Called once after init.
func (e *engine) loadStatsNames(ctx context.Context) error {
	names := make(map[string]bool)
	for _, schema := range []string{schemaStats, schemaMonitor} {
		rows, err := queryRows(ctx, e.mu.conn, "SELECT name FROM "+schema+".sqlite_master WHERE type = 'table'")
		if err != nil {
			return err
		}
		for _, r := range rows {
			names[strings.ToLower(asString(r[0]))] = true
		}
	}
	e.statsNames = names
	return nil
}

// authorizeReadOnly is the authorizer for the read-only account.
func (e *engine) authorizeReadOnly(action sqlite.AuthorizerActionCode, arg1, arg2, db string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthRead:
		if e.readableByStats(db, arg1) {
			e.noteRead(db, arg1)
			return sqlite.AuthorizerOK
		}
		e.deny("the read-only admin account may read the stats and monitor tables and the runtime tables " +
			"without passwords only (not " + arg1 + ")")
		return sqlite.AuthorizerDeny
	case sqlite.AuthSelect, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthPragma:
		if arg2 == "" && safePragmas[strings.ToLower(arg1)] {
			return sqlite.AuthorizerOK
		}
	}
	e.deny("the read-only admin account may only read (SELECT)")
	return sqlite.AuthorizerDeny
}
