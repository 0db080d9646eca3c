package integration

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestMultiStatements checks CLIENT_MULTI_STATEMENTS through the proxy: with
// the option on, several statements in one COM_QUERY return every result;
// with it off the server refuses them with 1064, as it does directly.
func TestMultiStatements(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	multi := openDB(t, dsn(a.Addr(), "app", "app", "multiStatements=true"))
	single := openDB(t, dsn(a.Addr(), "app", "app"))
	_, err := direct.Exec("DROP TABLE IF EXISTS app.multi")
	require.NoError(t, err)
	_, err = direct.Exec("CREATE TABLE app.multi (id INT PRIMARY KEY, v VARCHAR(20))")
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("exec returns every statement's result", func(t *testing.T) {
		// AllRowsAffected is only reachable through the driver's own
		// result, i.e. through Conn.Raw (database/sql wraps Exec's).
		c := conn(t, multi)
		var affected []int64
		require.NoError(t, c.Raw(func(dc any) error {
			res, err := dc.(driver.ExecerContext).ExecContext(ctx, "INSERT INTO app.multi VALUES (1,'a'),(2,'b'),(3,'c'); "+
				"UPDATE app.multi SET v = CONCAT(v, '!') WHERE id >= 2; DELETE FROM app.multi WHERE id = 3", nil)
			if err != nil {
				return err
			}
			mres, ok := res.(mysql.Result)
			require.True(t, ok, "go-sql-driver result type %T", res)
			affected = mres.AllRowsAffected()
			return nil
		}))
		require.Equal(t, []int64{3, 2, 1}, affected)
		rows := queryStrings(t, direct, "SELECT CONCAT(id, '=', v) FROM app.multi ORDER BY id")
		require.Equal(t, []string{"1=a", "2=b!"}, rows)
	})

	t.Run("insert select update", func(t *testing.T) {
		c := conn(t, multi)
		rows, err := c.QueryContext(ctx, "INSERT INTO app.multi VALUES (10, 'ten'); "+
			"SELECT id, v FROM app.multi WHERE id >= 10 ORDER BY id; "+
			"UPDATE app.multi SET v = 'TEN' WHERE id = 10; "+
			"SELECT v, @@in_transaction FROM app.multi WHERE id = 10")
		require.NoError(t, err)
		// go-sql-driver skips the OK results: first the SELECT after the
		// INSERT (which sees the new row), then the SELECT after the UPDATE.
		var id int
		var v string
		require.True(t, rows.Next(), "first result set: %v", rows.Err())
		require.NoError(t, rows.Scan(&id, &v))
		require.Equal(t, 10, id)
		require.Equal(t, "ten", v)
		require.False(t, rows.Next())
		require.True(t, rows.NextResultSet(), "second result set: %v", rows.Err())
		var inTrx int
		require.True(t, rows.Next(), "second result set row: %v", rows.Err())
		require.NoError(t, rows.Scan(&v, &inTrx))
		require.Equal(t, "TEN", v)
		require.Equal(t, 0, inTrx)
		require.False(t, rows.Next())
		require.False(t, rows.NextResultSet())
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())

		// The connection is in sync after the multi-result exchange.
		var n int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM app.multi WHERE v = 'TEN'").Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("error in the middle stops the batch", func(t *testing.T) {
		run := func(db *sql.DB) error {
			_, err := db.Exec("UPDATE app.multi SET v = 'x1' WHERE id = 1; SELEC oops; UPDATE app.multi SET v = 'x2' WHERE id = 1")
			return err
		}
		directMulti := openDB(t, dsn(primary(), "app", "app", "multiStatements=true"))
		derr := run(directMulti)
		require.NoError(t, resetRow(direct))
		perr := run(multi)
		sameError(t, derr, perr)
		require.Equal(t, uint16(1064), myErr(t, perr).Number)
		var v string
		require.NoError(t, direct.QueryRow("SELECT v FROM app.multi WHERE id = 1").Scan(&v))
		require.Equal(t, "x1", v, "the statement before the error ran, the one after did not")
		// and the session goes on
		require.Equal(t, []string{"x1"}, queryStrings(t, multi, "SELECT v FROM app.multi WHERE id = 1"))
	})

	t.Run("refused without multiStatements", func(t *testing.T) {
		directSingle := openDB(t, dsn(primary(), "app", "app"))
		for _, q := range []string{
			"SELECT 1; SELECT 2",
			"INSERT INTO app.multi VALUES (20, 'twenty'); SELECT 1",
		} {
			_, derr := directSingle.Exec(q)
			_, perr := single.Exec(q)
			require.Equal(t, uint16(1064), myErr(t, derr).Number, "direct: %s", q)
			sameError(t, derr, perr)
		}
		var n int
		require.NoError(t, direct.QueryRow("SELECT COUNT(*) FROM app.multi WHERE id = 20").Scan(&n))
		require.Zero(t, n, "nothing of a refused multi-statement ran")
	})

	t.Run("sessions with and without share backend connections", func(t *testing.T) {
		// The proxy keeps each session's multi-statement option on whatever
		// backend connection serves it: alternate the two sessions.
		for i := 0; i < 20; i++ {
			_, err := single.Exec("SELECT 1; SELECT 2")
			require.Equal(t, uint16(1064), myErr(t, err).Number, "round %d single", i)
			require.Equal(t, []string{"2"}, queryStrings(t, multi, "DO 1; SELECT 2"), "round %d multi", i)
		}
	})
}

// resetRow puts row 1 of app.multi back to 'a'.
func resetRow(db *sql.DB) error {
	_, err := db.Exec("UPDATE app.multi SET v = 'a' WHERE id = 1")
	return err
}

// queryStrings returns the first column of every row of q.
func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	require.NoError(t, err, q)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		require.NoError(t, rows.Scan(&s))
		out = append(out, s.String)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestClientFoundRows checks that CLIENT_FOUND_ROWS reaches the backend: with
// it an UPDATE that changes nothing reports the rows it matched.
func TestClientFoundRows(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	_, err := direct.Exec("CREATE TABLE IF NOT EXISTS app.found_rows (id INT PRIMARY KEY, v INT)")
	require.NoError(t, err)
	_, err = direct.Exec("REPLACE INTO app.found_rows VALUES (1, 7), (2, 7)")
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		foundRows bool
		want      int64
	}{
		{"changed rows", false, 0},
		{"found rows", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			param := fmt.Sprintf("clientFoundRows=%t", tc.foundRows)
			for _, addr := range []string{primary(), a.Addr()} {
				db := openDB(t, dsn(addr, "app", "app", param))
				res, err := db.Exec("UPDATE app.found_rows SET v = 7") // changes nothing
				require.NoError(t, err)
				n, err := res.RowsAffected()
				require.NoError(t, err)
				require.Equal(t, tc.want, n, "rows affected via %s (proxy %s)", addr, a.Addr())
			}
		})
	}
}
