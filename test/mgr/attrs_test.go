package mgr

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestTraceparentForwarded: with tracing on, rwproxy's backend connections
// negotiate query attributes with MySQL 9.7, and a traced statement
// reaches the server with rwproxy's span as its traceparent attribute
// (mysql_query_attribute_string() reads it), as a text query and as a
// prepared execute; a statement that is not traced carries none.
func TestTraceparentForwarded(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	pdb := memberDB(t, 1)
	ctx := context.Background()
	if _, err := pdb.ExecContext(ctx, `INSTALL COMPONENT "file://component_query_attributes"`); err != nil &&
		!strings.Contains(err.Error(), "already") {
		require.NoError(t, err, "the query attributes component")
	}
	a, _ := startProxy(t, 1, func(c *config.Config) {
		c.Tracing.Enabled, c.Tracing.SamplingRatio = true, 0
		c.Tracing.Endpoint = "http://127.0.0.1:1" // nothing listens: exports fail (counted)
	})
	waitLayout(t, a, 1)
	// One connection: BEGIN pins it to the primary, where the component is.
	db, err := sql.Open("mysql", "app:app@tcp("+a.Addr()+")/app?timeout=5s")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	const trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	comment := " /*traceparent='00-" + trace + "-" + span + "-01'*/"
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()

	attr := func(q string, args ...any) sql.NullString {
		t.Helper()
		var v sql.NullString
		var port int
		require.NoError(t, tx.QueryRowContext(ctx, q, args...).Scan(&v, &port), q)
		require.Equal(t, grp.Ports[0], port, "ran on the primary")
		return v
	}
	checkChild := func(v sql.NullString, what string) {
		t.Helper()
		require.True(t, v.Valid, "%s: no traceparent attribute reached the server", what)
		parts := strings.Split(v.String, "-")
		require.Len(t, parts, 4, v.String)
		require.Equal(t, "00", parts[0])
		require.Equal(t, trace, parts[1], "%s: the client's trace", what)
		require.NotEqual(t, span, parts[2], "%s: rwproxy's own span, not the client's", what)
		require.Len(t, parts[2], 16)
		require.Equal(t, "01", parts[3])
	}
	const q = "SELECT mysql_query_attribute_string('traceparent'), @@port"
	checkChild(attr(q+comment), "text query")
	// go-sql-driver prepares a statement with arguments (no interpolation).
	checkChild(attr(q+" + ? - ?"+comment, 1, 1), "prepared execute")
	require.False(t, attr(q).Valid, "a statement without a context is not traced: no attribute")
	require.False(t, attr(q+" + ? - ?", 1, 1).Valid)
	require.NoError(t, tx.Commit())
}
