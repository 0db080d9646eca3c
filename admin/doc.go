// Package admin is rwproxy's SQL admin interface, modelled on ProxySQL's: a
// MySQL-protocol listener (admin.listen) where an operator edits servers,
// users, query rules and variables with SQL and moves them between three
// layers with LOAD and SAVE commands:
//
//   - MEMORY: the editable tables (mysql_servers, mysql_users, ...), held in
//     an in-memory SQLite database that also answers every SELECT, so
//     WHERE, ORDER BY, LIMIT, aggregates and JOINs work as in SQLite. The
//     tables are STRICT with PRIMARY KEY, UNIQUE and CHECK constraints: a
//     wrong type, a duplicate key or a bad enum value is refused at INSERT
//     or UPDATE time.
//   - RUNTIME: what the proxy runs now, read through Runtime and shown in
//     read-only runtime_* tables refreshed before each statement that reads
//     them (likewise the stats_* tables and the monitor.* logs).
//   - DISK: a SQLite file, <admin.datadir>/rwproxy.db, attached as schema
//     "disk". Each SAVE ... TO DISK is one SQLite transaction, so a crash
//     leaves the previous or the new configuration, never a mix.
//
// LOAD ... TO RUNTIME builds a whole *config.Config (the running one with
// the module's tables replaced), validates it and hands it to
// Runtime.Apply, which swaps it atomically: a refused change leaves the
// running configuration untouched.
//
// Concurrency: a Server serves each admin connection in its own goroutine;
// statements from all connections are serialised by the engine (one SQLite
// connection, one mutex), which is plenty for an operator interface and
// keeps the refresh-then-read of runtime and stats tables consistent.
// Runtime methods are called from those goroutines and must be safe for
// concurrent use.
package admin
