package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Every statement that changes a table is audited, whatever its first
// word: WITH ... UPDATE used to change passwords with no audit line.
func TestAuditByEffect(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	e, _ := newTestEngine(t, nil, zap.New(core))
	res := exec(t, e, "WITH x(p) AS (SELECT 'cte-secret-1') UPDATE mysql_users SET password = (SELECT p FROM x) WHERE username = 'app'")
	require.Equal(t, int64(1), res.Affected)
	require.Equal(t, "cte-secret-1", one(t, e, "SELECT password FROM mysql_users WHERE username = 'app'"))
	lines := logs.FilterMessage("admin change").All()
	require.Len(t, lines, 1)
	stmt := lines[0].ContextMap()["statement"].(string)
	require.True(t, strings.HasPrefix(stmt, "WITH x(p)"), stmt)
	require.NotContains(t, stmt, "cte-secret-1")
	require.Equal(t, int64(1), lines[0].ContextMap()["rows_affected"])

	// A refused write through a CTE is audited too (outcome error); a
	// plain SELECT is not.
	execErr(t, e, "WITH x AS (SELECT 1) DELETE FROM runtime_mysql_users", erReadOnly)
	exec(t, e, "WITH x AS (SELECT 1) SELECT * FROM x")
	require.Equal(t, 2, logs.FilterMessage("admin change").Len())
	require.Equal(t, "error", logs.FilterMessage("admin change").All()[1].ContextMap()["outcome"])
}

// Passwords are masked structurally: inside functions, concatenations,
// CASE, sub-selects, CTEs and row values.
func TestMaskStructural(t *testing.T) {
	const pw = "S3cr3t"
	for _, q := range []string{
		"UPDATE mysql_users SET password = lower('S3cr3t') WHERE username = 'app'",
		"UPDATE mysql_users SET password = 'S3' || 'cr3t' WHERE username = 'app'",
		"UPDATE mysql_users SET password = 'x' || 'S3cr3t'",
		"UPDATE mysql_users SET password = CASE WHEN username = 'app' THEN 'S3cr3t' ELSE 'other' END",
		"UPDATE mysql_users SET password = (SELECT 'S3cr3t')",
		"UPDATE mysql_users SET backend_password = trim(upper(('S3cr3t'))), max_connections = 5",
		"UPDATE mysql_users SET (password, max_connections) = ('S3cr3t', 5)",
		"WITH t(p) AS (VALUES ('S3cr3t')) UPDATE mysql_users SET password = (SELECT p FROM t)",
		"INSERT INTO mysql_users (username, password) VALUES ('bob', lower('S3cr3t'))",
		"INSERT INTO mysql_users (username, password) VALUES ('bob', 'a') ON CONFLICT(username) DO UPDATE SET password = lower('S3cr3t')",
		"UPDATE mysql_users SET password = replace(password, 'old', 'S3cr3t')",
		"DELETE FROM mysql_users WHERE lower('S3cr3t') = password",
		`UPDATE mysql_users SET "password" = 'S3cr3t'`,
		"UPDATE mysql_users SET `password` = 'S3cr3t'",
		"UPDATE global_variables SET variable_value = lower('S3cr3t') WHERE variable_name = 'mysql-monitor_password'",
	} {
		got := maskStatement(lex(q))
		require.NotContains(t, got, "S3cr3t", q)
		require.NotContains(t, got, "cr3t", q)
	}
	// What is not a secret stays readable.
	require.Equal(t, "UPDATE mysql_users SET password = lower('***'), max_connections = 5 WHERE username = 'app'",
		maskStatement(lex("UPDATE mysql_users SET password = lower('"+pw+"'), max_connections = 5 WHERE username = 'app'")))
}

// A runaway statement is interrupted at the statement timeout (error
// 3024) and the engine serves the next one; values and results are capped.
func TestStatementBounds(t *testing.T) {
	cfg := testConfig()
	cfg.Admin.Datadir = t.TempDir()
	rt := &fakeRuntime{cfg: cfg}
	e, err := newEngine(context.Background(), engineOptions{Runtime: rt, Datadir: cfg.Admin.Datadir, Log: zap.NewNop(),
		Version: Version, StatementTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })

	msg := execErr(t, e, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", erQueryTimeout)
	require.Contains(t, msg, "timeout")
	require.Equal(t, "2", one(t, e, "SELECT count(*) FROM mysql_users"), "the engine is free again")

	execErr(t, e, "SELECT length(zeroblob(100000000))", erUnknown)

	// The result cap, on an engine with the default timeout.
	e2, _ := newTestEngine(t, nil)
	msg = execErr(t, e2, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000) SELECT x, printf('%.10000c', 'a') FROM c", erResultTooLarge)
	require.Contains(t, msg, "LIMIT")
	require.Equal(t, "2", one(t, e2, "SELECT count(*) FROM mysql_users"))
}
