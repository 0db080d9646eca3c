package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DiskFile is the name of the DISK layer's SQLite file in admin.datadir.
const DiskFile = "rwproxy.db"

// adminSession is one admin connection as the engine sees it.
type adminSession struct {
	User string // admin user name
	Addr string // client address
	DB   string // current schema (USE), "main" by default
	// ReadOnly is the read-only account (admin.stats_username).
	ReadOnly bool
}

// result is the outcome of one statement: a result set when Columns is not
// empty (values are strings or nil), otherwise an OK with Affected rows and
// an optional Info message.
type result struct {
	Columns  []string
	Rows     [][]any
	Affected int64
	Info     string
}

// engineOptions configure an engine.
type engineOptions struct {
	Runtime Runtime
	// Datadir holds the DISK layer (DiskFile); it is created if missing.
	Datadir string
	// ConfigFile is the YAML file LOAD ... FROM CONFIG reads; "" disables it.
	ConfigFile string
	Log        *zap.Logger
	// Version is the admin server's version (SELECT VERSION(), @@version).
	Version string
	// StatementTimeout bounds one operator statement run by SQLite; 0
	// means DefaultStatementTimeout.
	StatementTimeout time.Duration
}

// Bounds of one operator statement: the engine runs one statement at a
// time for every admin connection, so a runaway one (a recursive CTE, a
// zeroblob) must not hold it, or the process's memory, for long.
const (
	// DefaultStatementTimeout interrupts a statement still running after it.
	DefaultStatementTimeout = 10 * time.Second
	// maxValueLen caps a string or blob value and a statement's text
	// (SQLITE_LIMIT_LENGTH and SQLITE_LIMIT_SQL_LENGTH).
	maxValueLen = 16 << 20
	// maxResultBytes caps the rows of one result held for the client.
	maxResultBytes = 64 << 20
)

// engine runs admin statements against the MEMORY, DISK, runtime and stats
// tables. It owns one SQLite connection; Exec serialises statements.
type engine struct {
	rt         Runtime
	lg         *zap.Logger
	configFile string
	// stmtTimeout bounds one operator statement (runSQL).
	stmtTimeout time.Duration
	// statsNames are the stats and monitor tables (lower case), which the
	// read-only account may read; set once by newEngine.
	statsNames map[string]bool
	diskPath   string
	version    string

	db *sql.DB

	mu struct {
		sync.Mutex
		conn *sql.Conn
		// reads collects the tables the statement being prepared reads
		// (schema.table, lower case), for the refresh before it runs.
		reads map[string]bool
		// denied says why the authorizer refused the statement.
		denied string
		// poolBase are the pool counters at the previous read of
		// stats_mysql_connection_pool_reset, by hostgroup/host/port.
		poolBase map[string]row
		// readOnly makes the authorizer apply the read-only account's
		// rules to the statement being prepared.
		readOnly bool
		// wrote is set by the authorizer when the statement being
		// prepared changes a table (whatever its first word: WITH ...
		// UPDATE too), so that it is audited.
		wrote bool
	}
	// adminReadOnly is ProxySQL's admin read-only mode (PROXYSQL
	// READONLY until PROXYSQL READWRITE): operators' statements may not
	// change a table; LOAD and SAVE still run, as in ProxySQL.
	adminReadOnly atomic.Bool
	// internal lets the engine's own statements (refreshes, LOAD, SAVE)
	// past the authorizer, which otherwise keeps operators to SELECT and
	// to writes on the editable tables.
	internal atomic.Bool
	// beforeCommit, when set (tests), runs inside SAVE ... TO DISK just
	// before its transaction commits.
	beforeCommit func()
}

// newengine opens the in-memory database, attaches the stats, monitor
// and disk schemas, creates every table and fills MEMORY and the disk file
// (if it is new) from the running configuration.
func newEngine(ctx context.Context, o engineOptions) (*engine, error) {
	if o.Runtime == nil {
		return nil, errors.New("admin: no Runtime")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	e := &engine{rt: o.Runtime, lg: o.Log, configFile: o.ConfigFile, version: o.Version, stmtTimeout: o.StatementTimeout}
	if e.stmtTimeout <= 0 {
		e.stmtTimeout = DefaultStatementTimeout
	}
	if o.Datadir != "" {
		if err := os.MkdirAll(o.Datadir, 0o750); err != nil {
			return nil, fmt.Errorf("admin: datadir: %w", err)
		}
		e.diskPath = filepath.Join(o.Datadir, DiskFile)
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, fmt.Errorf("admin: open memory database: %w", err)
	}
	// One connection for the engine's lifetime: the in-memory database and
	// its attachments live and die with it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	e.db = db
	conn, err := db.Conn(ctx)
	if err == nil {
		err = conn.Raw(func(dc any) error {
			ar, ok := dc.(sqlite.AuthorizerRegisterer)
			if !ok {
				return errors.New("sqlite driver has no authorizer")
			}
			return ar.RegisterAuthorizer(e.authorize)
		})
	}
	if err == nil {
		_, err = sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, maxValueLen)
	}
	if err == nil {
		_, err = sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_SQL_LENGTH, maxValueLen)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("admin: memory database: %w", err)
	}
	e.mu.conn = conn
	if err := e.init(ctx); err != nil {
		_ = e.Close()
		return nil, err
	}
	if err := e.loadStatsNames(ctx); err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("admin: list the stats tables: %w", err)
	}
	return e, nil
}

// init creates the schemas and fills them. Called once from newEngine.
func (e *engine) init(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	c := e.mu.conn
	stmts := []string{
		"ATTACH DATABASE ':memory:' AS " + schemaStats,
		"ATTACH DATABASE ':memory:' AS " + schemaMonitor,
		"PRAGMA busy_timeout = 5000",
	}
	for _, t := range configTables {
		stmts = append(stmts, t.ddl(schemaMain, t.name, true, true), t.ddl(schemaMain, runtimePrefix+t.name, false, false))
	}
	for _, d := range dynamicTables {
		if d.schema != schemaMain || d.name == d.t.name { // the runtime_ twins are made above
			stmts = append(stmts, d.t.ddl(d.schema, d.t.name, false, false))
		}
	}
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("admin: create tables: %s: %w", firstLine(s), err)
		}
	}
	if err := e.attachDisk(ctx); err != nil {
		return err
	}
	cfg := e.rt.Config()
	return inTx(ctx, c, func(tx *sql.Tx) error {
		for _, m := range modules {
			if err := writeModule(ctx, tx, schemaMain, m, cfg); err != nil {
				return err
			}
		}
		return nil
	})
}

// attachDisk attaches the disk file as schema disk, creating its tables,
// and writes the running configuration into it when it holds none yet
// (no Bootstrap ran on this datadir).
func (e *engine) attachDisk(ctx context.Context) error {
	if e.diskPath == "" {
		return nil
	}
	old, err := ensurePrivate(e.diskPath)
	if err != nil {
		return err
	}
	if old != 0 {
		e.lg.Warn("the disk file holds passwords and was readable by others: restricted it to its owner",
			zap.String("path", e.diskPath), zap.String("was", old.String()), zap.String("now", (old&^0o077).String()))
	}
	c := e.mu.conn
	if _, err := c.ExecContext(ctx, "ATTACH DATABASE ? AS "+schemaDisk, e.diskPath); err != nil {
		return fmt.Errorf("admin: open %s: %w", e.diskPath, err)
	}
	if _, err := c.ExecContext(ctx, "PRAGMA "+schemaDisk+".synchronous = FULL"); err != nil {
		return fmt.Errorf("admin: %s: %w", e.diskPath, err)
	}
	ver, err := userVersion(ctx, c, schemaDisk)
	if err != nil {
		return fmt.Errorf("admin: %s: %w", e.diskPath, err)
	}
	if ver > diskSchemaVersion {
		return fmt.Errorf("admin: %s was written by a newer rwproxy (schema version %d > %d)", e.diskPath, ver, diskSchemaVersion)
	}
	return inTx(ctx, c, func(tx *sql.Tx) error {
		if err := createDiskTables(ctx, tx, schemaDisk); err != nil {
			return err
		}
		if ver != 0 {
			return nil
		}
		return initDisk(ctx, tx, schemaDisk, e.rt.Config())
	})
}

// Close closes the databases.
func (e *engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.mu.conn != nil {
		err = e.mu.conn.Close()
		e.mu.conn = nil
	}
	return errors.Join(err, e.db.Close())
}

// Exec runs one query (possibly several statements separated by ";",
// run in order until one fails) for sess and returns the last result.
func (e *engine) Exec(ctx context.Context, sess *adminSession, query string) (*result, error) {
	if sess.ReadOnly {
		ctx = withReadOnly(ctx)
	}
	stmts := splitStatements(query)
	if len(stmts) == 0 {
		return nil, errEmptyQuery
	}
	var res *result
	for _, st := range stmts {
		var err error
		if res, err = e.execOne(ctx, sess, st); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// execOne dispatches one statement: LOAD/SAVE, SET, SHOW, USE and
// transaction control are handled here; anything else goes to SQLite.
func (e *engine) execOne(ctx context.Context, sess *adminSession, st []token) (*result, error) {
	s := sig(st)
	if path, ok, err := parseSaveConfigFile(s); ok {
		var res *result
		if err != nil {
			err = newError(erSyntax, err.Error())
		} else {
			res, err = e.saveConfigFile(path)
		}
		e.audit(sess, st, res, err)
		return res, err
	}
	if tc, ok, err := parseTraffic(s); ok {
		var res *result
		switch {
		case sess.ReadOnly:
			err = newError(erReadOnly, "the read-only admin account may not run TRAFFIC CAPTURE")
		case err != nil:
			err = newError(erSyntax, err.Error())
		default:
			res, err = e.traffic(tc)
		}
		e.audit(sess, st, res, err)
		return res, err
	}
	cmd, isCmd, err := parseCommand(s)
	switch {
	case isCmd && sess.ReadOnly:
		err := newError(erReadOnly, "the read-only admin account may not run LOAD or SAVE")
		e.audit(sess, st, nil, err)
		return nil, err
	case isCmd && err != nil:
		e.audit(sess, st, nil, err)
		return nil, newError(erSyntax, err.Error())
	case isCmd:
		res, err := e.runCommand(ctx, cmd)
		e.audit(sess, st, res, err)
		return res, err
	}
	first := strings.ToUpper(s[0].text)
	switch first {
	case "SET":
		return e.set(ctx, sess, st, s)
	case "SHOW", "DESCRIBE", "DESC":
		return e.show(ctx, sess, s)
	case "USE":
		if len(s) != 2 {
			return nil, newError(erSyntax, "USE needs one schema name")
		}
		return &result{}, useDB(sess, unquote(s[1]))
	case "PROXYSQL":
		res, err := e.proxysql(ctx, sess, s)
		e.audit(sess, st, res, err)
		return res, err
	case "CHECKSUM":
		return e.checksum(ctx, s)
	case "KILL":
		res, err := e.kill(sess, s)
		e.audit(sess, st, res, err)
		return res, err
	case "BEGIN", "START", "COMMIT", "ROLLBACK":
		// Every statement applies at once; clients that wrap their work in
		// a transaction get OK rather than an error.
		return &result{}, nil
	case "INSERT", "REPLACE", "UPDATE", "DELETE":
		res, err := e.runSQL(ctx, join(rewrite(st, sess, e)), false)
		e.audit(sess, st, res, err)
		return res, err
	}
	// Any other statement may still change a table (WITH ... UPDATE):
	// the authorizer says whether it does, and then it is audited.
	res, wrote, err := e.runStmt(ctx, join(rewrite(st, sess, e)), true)
	if wrote {
		e.audit(sess, st, res, err)
	}
	return res, err
}

// useDB switches sess to schema db.
func useDB(sess *adminSession, db string) error {
	for _, s := range []string{schemaMain, schemaDisk, schemaStats, schemaMonitor} {
		if strings.EqualFold(db, s) {
			sess.DB = s
			return nil
		}
	}
	return newError(erBadDB, fmt.Sprintf("Unknown database '%s' (the admin schemas are main, disk, stats and monitor)", db))
}

// runSQL is runStmt for statements whose writes need no audit of their own.
func (e *engine) runSQL(ctx context.Context, q string, rows bool) (*result, error) {
	res, _, err := e.runStmt(ctx, q, rows)
	return res, err
}

// runStmt prepares q (the authorizer notes which tables it reads and
// whether it writes any), refreshes the runtime and stats tables among
// them, then runs it: as a query when rows is true and the statement
// writes nothing, else as a change whose affected rows are reported.
// wrote reports whether the statement changes (or tried to change) a
// table. The statement is interrupted after the statement timeout or
// when ctx (the connection's) ends.
func (e *engine) runStmt(ctx context.Context, q string, rows bool) (res *result, wrote bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, e.stmtTimeout)
	defer cancel()
	e.mu.reads, e.mu.denied, e.mu.wrote, e.mu.readOnly = make(map[string]bool), "", false, isReadOnly(ctx)
	stmt, err := e.mu.conn.PrepareContext(ctx, q)
	e.mu.readOnly = false
	reads, wrote := e.mu.reads, e.mu.wrote
	e.mu.reads = nil
	if err != nil {
		return nil, wrote, e.stmtError(ctx, err, e.mu.denied)
	}
	defer func() { _ = stmt.Close() }()
	if err := e.refresh(ctx, reads); err != nil {
		return nil, wrote, err
	}
	if !rows || wrote {
		r, err := stmt.ExecContext(ctx)
		if err != nil {
			return nil, wrote, e.stmtError(ctx, err, e.mu.denied)
		}
		n, _ := r.RowsAffected()
		return &result{Affected: n}, wrote, nil
	}
	rs, err := stmt.QueryContext(ctx)
	if err != nil {
		return nil, wrote, e.stmtError(ctx, err, e.mu.denied)
	}
	res, err = collect(rs)
	if err != nil {
		return nil, wrote, e.stmtError(ctx, err, "")
	}
	if reads[schemaStats+"."+tDigestReset.name] || reads[anySchema+"."+tDigestReset.name] {
		e.rt.ResetDigests()
	}
	return res, wrote, nil
}

// stmtError is sqlError, but a statement stopped by the timeout gets
// MySQL's max_execution_time error.
func (e *engine) stmtError(ctx context.Context, err error, denied string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return newError(erQueryTimeout, fmt.Sprintf("Query execution was interrupted, the admin statement timeout (%s) was exceeded", e.stmtTimeout))
	}
	return sqlError(err, denied)
}

// collect reads every row of rs as strings (NULL stays nil), the way the
// text protocol sends them.
func collect(rs *sql.Rows) (*result, error) {
	defer func() { _ = rs.Close() }()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	res := &result{Columns: cols}
	size := 0
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = textValue(v)
			if b, ok := vals[i].(string); ok {
				size += len(b)
			}
			size += 8
		}
		if size > maxResultBytes {
			return nil, newError(erResultTooLarge, fmt.Sprintf("the result is larger than %d MiB; select fewer rows (LIMIT) or columns", maxResultBytes>>20))
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rs.Err()
}

// querier is what *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// inTx runs fn in a transaction on c.
func inTx(ctx context.Context, c *sql.Conn, fn func(tx *sql.Tx) error) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// queryRows runs q and returns its rows with SQLite's values.
func queryRows(ctx context.Context, q querier, query string, args ...any) ([]row, error) {
	rs, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rs.Close() }()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	var out []row
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rs.Err()
}

// userVersion reads PRAGMA <schema>.user_version.
func userVersion(ctx context.Context, q querier, schema string) (int, error) {
	rows, err := queryRows(ctx, q, "PRAGMA "+schema+".user_version")
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	return asInt(rows[0][0]), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// internalExec runs q as one of the engine's own statements, past the
// authorizer (setup and tests).
func (e *engine) internalExec(ctx context.Context, q string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	_, err := e.mu.conn.ExecContext(ctx, q)
	return err
}
