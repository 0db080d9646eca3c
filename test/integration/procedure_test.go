package integration

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// resultSets reads every result set of rows as strings, one []string per row.
func resultSets(t *testing.T, rows *sql.Rows) [][][]string {
	t.Helper()
	defer rows.Close()
	var sets [][][]string
	for {
		cols, err := rows.Columns()
		require.NoError(t, err)
		var set [][]string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = v.String
				if !v.Valid {
					row[i] = "NULL"
				}
			}
			set = append(set, row)
		}
		require.NoError(t, rows.Err())
		sets = append(sets, append([][]string{cols}, set...))
		if !rows.NextResultSet() {
			break
		}
	}
	require.NoError(t, rows.Err())
	return sets
}

// TestStoredProcedureTwoResultSets calls a procedure that returns two result
// sets, through the proxy and directly, with go-sql-driver (text and binary
// protocol) and the mariadb CLI.
func TestStoredProcedureTwoResultSets(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	proxied := openDB(t, dsn(a.Addr(), "app", "app"))
	for _, q := range []string{
		"DROP PROCEDURE IF EXISTS app.two_rs",
		`CREATE PROCEDURE app.two_rs(IN n INT)
		 BEGIN
		   SELECT n AS n, 'first' AS which, NULL AS nothing;
		   SELECT seq AS k, REPEAT('x', seq) AS xs FROM seq_1_to_5 WHERE seq <= n ORDER BY seq;
		 END`,
	} {
		_, err := direct.Exec(q)
		require.NoError(t, err)
	}
	want := [][][]string{
		{{"n", "which", "nothing"}, {"3", "first", "NULL"}},
		{{"k", "xs"}, {"1", "x"}, {"2", "xx"}, {"3", "xxx"}},
		// CALL ends with an OK packet: go-sql-driver shows it as a last,
		// empty result set without columns.
	}

	cases := []struct {
		name string
		run  func(db *sql.DB) (*sql.Rows, error)
	}{
		{"text protocol", func(db *sql.DB) (*sql.Rows, error) { return db.Query("CALL app.two_rs(3)") }},
		{"binary protocol", func(db *sql.DB) (*sql.Rows, error) { return db.Query("CALL app.two_rs(?)", 3) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for round := 0; round < 3; round++ { // the connection stays usable
				drows, err := tc.run(direct)
				require.NoError(t, err)
				d := resultSets(t, drows)
				prows, err := tc.run(proxied)
				require.NoError(t, err)
				p := resultSets(t, prows)
				require.GreaterOrEqual(t, len(d), 2, "direct result sets")
				require.Equal(t, want, d[:2], "direct")
				require.Equal(t, d, p, "proxy vs direct, round %d", round)
			}
			var one int
			require.NoError(t, proxied.QueryRow("SELECT 1").Scan(&one))
			require.Equal(t, 1, one)
		})
	}

	t.Run("mariadb CLI", func(t *testing.T) {
		needSandbox(t, "mariadb")
		args := []string{"--batch", "--raw", "-e", "CALL app.two_rs(3); SELECT 'after'"}
		dr := runCLI(t, primary(), "app", "app", "", args...)
		require.NoError(t, dr.err, dr.stderr)
		pr := runCLI(t, a.Addr(), "app", "app", "", args...)
		require.NoError(t, pr.err, pr.stderr)
		wantOut := strings.Join([]string{"n\twhich\tnothing", "3\tfirst\tNULL", "k\txs", "1\tx", "2\txx", "3\txxx", "after", "after", ""}, "\n")
		require.Equal(t, wantOut, dr.stdout, "direct")
		require.Equal(t, dr.stdout, pr.stdout, "proxy vs direct")
		require.Equal(t, dr.stderr, pr.stderr)
	})
}
