package admin

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// show answers SHOW and DESCRIBE statements (significant tokens s).
func (e *engine) show(ctx context.Context, sess *adminSession, s []token) (*result, error) {
	if !s[0].is("SHOW") { // DESCRIBE t / DESC t
		if len(s) < 2 {
			return nil, newError(erSyntax, "DESCRIBE needs a table name")
		}
		return e.describe(ctx, s[1:])
	}
	w := s[1:]
	word := func(i int) string {
		if i < len(w) && w[i].kind == tkIdent {
			return strings.ToUpper(w[i].text)
		}
		return ""
	}
	full := word(0) == "FULL"
	if full {
		w = w[1:]
	}
	scope := word(0)
	if scope == "GLOBAL" || scope == "SESSION" || scope == "LOCAL" || scope == "MYSQL" || scope == "ADMIN" {
		w = w[1:]
	} else {
		scope = ""
	}
	switch word(0) {
	case "DATABASES", "SCHEMAS":
		return e.runSQL(ctx, "PRAGMA database_list", true)
	case "TABLES":
		return e.showTables(ctx, sess, w[1:])
	case "CREATE":
		if word(1) != "TABLE" || len(w) < 3 {
			return nil, newError(erSyntax, "use SHOW CREATE TABLE <table>")
		}
		return e.showCreate(ctx, w[2:])
	case "COLUMNS", "FIELDS":
		if len(w) < 3 || !(w[1].is("FROM") || w[1].is("IN")) {
			return nil, newError(erSyntax, "use SHOW COLUMNS FROM <table>")
		}
		return e.describe(ctx, w[2:])
	case "VARIABLES":
		q := "SELECT variable_name AS Variable_name, variable_value AS Value FROM main.global_variables"
		switch scope {
		case "MYSQL":
			q += " WHERE variable_name LIKE 'mysql-%'"
		case "ADMIN":
			q += " WHERE variable_name LIKE 'admin-%'"
		default:
			// ProxySQL answers SHOW GLOBAL VARIABLES LIKE 'read_only' with
			// the admin interface's mode (PROXYSQL READONLY).
			q += " UNION ALL SELECT 'read_only', " + e.sysVarLiteral("read_only", nil)
		}
		return e.filtered(ctx, q, "Variable_name", w[1:])
	case "PROCESSLIST":
		return e.showProcesslist(ctx, full)
	case "STATUS":
		return e.filtered(ctx, "SELECT Variable_Name AS Variable_name, Variable_Value AS Value FROM stats.stats_mysql_global",
			"Variable_name", w[1:])
	}
	if cols, ok := emptyShows[strings.Join(identWords(w), " ")]; ok {
		return &result{Columns: cols}, nil
	}
	return nil, newError(erSyntax, "unsupported SHOW statement; the admin interface knows SHOW DATABASES, SHOW TABLES [FROM db], "+
		"SHOW CREATE TABLE, SHOW COLUMNS, SHOW VARIABLES, SHOW STATUS")
}

// emptyShows are SHOW statements clients send that have nothing to list here.
var emptyShows = map[string][]string{
	"WARNINGS":      {"Level", "Code", "Message"},
	"ERRORS":        {"Level", "Code", "Message"},
	"ENGINES":       {"Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"},
	"CHARSET":       {"Charset", "Description", "Default collation", "Maxlen"},
	"CHARACTER SET": {"Charset", "Description", "Default collation", "Maxlen"},
	"COLLATION":     {"Collation", "Charset", "Id", "Default", "Compiled", "Sortlen"},
	"PLUGINS":       {"Name", "Status", "Type", "Library", "License"},
	"GRANTS":        {"Grants"},
	"TRIGGERS":      {"Trigger", "Event", "Table", "Statement", "Timing"},
}

func identWords(ts []token) []string {
	var out []string
	for _, t := range ts {
		if t.kind == tkIdent {
			out = append(out, strings.ToUpper(t.text))
		}
	}
	return out
}

// filtered runs q with an optional "LIKE pattern" or "WHERE expr" (rest)
// applied to it as a subquery, nameCol being what LIKE matches.
func (e *engine) filtered(ctx context.Context, q, nameCol string, rest []token) (*result, error) {
	switch {
	case len(rest) == 0:
	case rest[0].is("LIKE") && len(rest) == 2:
		q = "SELECT * FROM (" + q + ") WHERE " + nameCol + " LIKE " + rest[1].text
	case rest[0].is("WHERE"):
		q = "SELECT * FROM (" + q + ") " + joinSig(rest)
	default:
		return nil, newError(erSyntax, "expected LIKE 'pattern' or WHERE condition")
	}
	return e.runSQL(ctx, q, true)
}

// joinSig joins significant tokens with spaces.
func joinSig(ts []token) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.text
	}
	return strings.Join(parts, " ")
}

// showTables lists a schema's tables: SHOW TABLES [FROM|IN db] [LIKE p].
func (e *engine) showTables(ctx context.Context, sess *adminSession, rest []token) (*result, error) {
	db := sess.DB
	if len(rest) >= 2 && (rest[0].is("FROM") || rest[0].is("IN")) {
		probe := *sess
		if err := useDB(&probe, unquote(rest[1])); err != nil {
			return nil, err
		}
		db, rest = probe.DB, rest[2:]
	}
	q := "SELECT name AS tables FROM " + db + ".sqlite_master WHERE type = 'table'"
	switch {
	case len(rest) == 0:
	case len(rest) == 2 && rest[0].is("LIKE"):
		q += " AND name LIKE " + rest[1].text
	default:
		return nil, newError(erSyntax, "use SHOW TABLES [FROM db] [LIKE 'pattern']")
	}
	return e.runSQL(ctx, q+" ORDER BY name", true)
}

// tableRef parses "[db.]name" from significant tokens.
func tableRef(ts []token) (db, name string) {
	if len(ts) >= 3 && ts[1].text == "." {
		return unquote(ts[0]), unquote(ts[2])
	}
	if len(ts) >= 1 {
		return "", unquote(ts[0])
	}
	return "", ""
}

// findTable returns the schema holding table name (db when given; else
// main, stats, monitor, then disk: SQLite's own lookup order).
func (e *engine) findTable(ctx context.Context, db, name string) (string, string, error) {
	schemas := []string{schemaMain, schemaStats, schemaMonitor, schemaDisk}
	if db != "" {
		schemas = []string{strings.ToLower(db)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	for _, s := range schemas {
		if s == schemaDisk && e.diskPath == "" {
			continue
		}
		rows, err := queryRows(ctx, e.mu.conn, "SELECT name, sql FROM "+s+".sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", name)
		if err != nil {
			continue // unknown schema
		}
		if len(rows) > 0 {
			return s, asString(rows[0][0]), nil
		}
	}
	return "", "", newError(erNoSuchTable, fmt.Sprintf("Table '%s' doesn't exist", name))
}

// showCreate answers SHOW CREATE TABLE with the table's SQLite DDL.
func (e *engine) showCreate(ctx context.Context, ts []token) (*result, error) {
	db, name := tableRef(ts)
	schema, real, err := e.findTable(ctx, db, name)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	rows, err := queryRows(ctx, e.mu.conn, "SELECT sql FROM "+schema+".sqlite_master WHERE type = 'table' AND name = ?", real)
	if err != nil || len(rows) == 0 {
		return nil, sqlError(fmt.Errorf("SHOW CREATE TABLE %s: %v", name, err), "")
	}
	return &result{Columns: []string{"table", "Create Table"}, Rows: [][]any{{real, unqualify(asString(rows[0][0]))}}}, nil
}

// schemaQualifier matches the "schema." the DDL was created with.
var schemaQualifier = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS \w+\.`)

// unqualify shows DDL as an operator would write it.
func unqualify(ddl string) string { return schemaQualifier.ReplaceAllString(ddl, "CREATE TABLE ") }

// describe answers DESCRIBE t and SHOW COLUMNS FROM t [FROM db].
func (e *engine) describe(ctx context.Context, ts []token) (*result, error) {
	db, name := tableRef(ts)
	if len(ts) == 3 && (ts[1].is("FROM") || ts[1].is("IN")) {
		db, name = unquote(ts[2]), unquote(ts[0])
	}
	schema, real, err := e.findTable(ctx, db, name)
	if err != nil {
		return nil, err
	}
	cols, err := e.tableColumns(ctx, schema, real)
	if err != nil {
		return nil, err
	}
	res := &result{Columns: []string{"Field", "Type", "Null", "Key", "Default", "Extra"}}
	for _, c := range cols {
		null, key := "YES", ""
		if c.notNull {
			null = "NO"
		}
		if c.pk {
			key = "PRI"
		}
		res.Rows = append(res.Rows, []any{c.name, c.typ, null, key, c.def, ""})
	}
	return res, nil
}

// tableColumn is one row of PRAGMA table_info.
type tableColumn struct {
	name, typ string
	notNull   bool
	def       any
	pk        bool
}

func (e *engine) tableColumns(ctx context.Context, schema, name string) ([]tableColumn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	rows, err := queryRows(ctx, e.mu.conn, "PRAGMA "+schema+".table_info("+quoteIdent(name)+")")
	if err != nil {
		return nil, sqlError(err, "")
	}
	out := make([]tableColumn, 0, len(rows))
	for _, r := range rows {
		out = append(out, tableColumn{name: asString(r[1]), typ: asString(r[2]), notNull: asInt(r[3]) == 1,
			def: textValue(r[4]), pk: asInt(r[5]) > 0})
	}
	return out, nil
}

// FieldList answers COM_FIELD_LIST (the CLI's auto-rehash): the columns of
// table in sess's schema.
func (e *engine) FieldList(ctx context.Context, sess *adminSession, table string) ([]*mysql.Field, error) {
	schema, real, err := e.findTable(ctx, sess.DB, table)
	if err != nil {
		return nil, err
	}
	cols, err := e.tableColumns(ctx, schema, real)
	if err != nil {
		return nil, err
	}
	out := make([]*mysql.Field, 0, len(cols))
	for _, c := range cols {
		out = append(out, &mysql.Field{Schema: []byte(schema), Table: []byte(real), OrgTable: []byte(real),
			Name: []byte(c.name), OrgName: []byte(c.name), Charset: 33, Type: mysql.MYSQL_TYPE_VAR_STRING})
	}
	return out, nil
}

// set answers SET. "SET mysql-x = v" and "SET admin-x = v" change
// global_variables in MEMORY, as in ProxySQL; any other SET (NAMES,
// autocommit, session variables a client sends) is accepted and ignored.
func (e *engine) set(ctx context.Context, sess *adminSession, st, s []token) (*result, error) {
	rest := s[1:]
	if len(rest) > 0 && (rest[0].is("GLOBAL") || rest[0].is("SESSION") || rest[0].is("LOCAL")) {
		rest = rest[1:]
	}
	eq := -1
	for i, t := range rest {
		if t.text == "=" || t.text == ":=" {
			eq = i
			break
		}
	}
	if eq <= 0 {
		return &result{}, nil
	}
	var name strings.Builder
	for _, t := range rest[:eq] {
		name.WriteString(t.text)
	}
	n := strings.ToLower(name.String())
	if !strings.HasPrefix(n, prefixMySQL) && !strings.HasPrefix(n, prefixAdmin) {
		return &result{}, nil
	}
	val := rest[eq+1:]
	value := joinSig(val)
	if len(val) == 1 {
		value = unquote(val[0])
	}
	if _, ok := lookupVariable(n); !ok {
		err := newError(erUnknown, fmt.Sprintf("unknown variable %q (SELECT variable_name FROM global_variables lists them)", n))
		e.audit(sess, st, nil, err)
		return nil, err
	}
	res, err := e.runSQL(ctx, "REPLACE INTO main.global_variables (variable_name, variable_value) VALUES ("+
		quoteString(n)+", "+quoteString(value)+")", false)
	e.audit(sess, st, res, err)
	return res, err
}
