package integration

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// TestBackendErrorsPassThrough checks that server errors reach the client
// through the proxy with the code, SQLSTATE and message a direct client gets.
func TestBackendErrorsPassThrough(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	proxied := openDB(t, dsn(a.Addr(), "app", "app"))
	_, err := direct.Exec("CREATE TABLE IF NOT EXISTS app.errs (id INT PRIMARY KEY, v VARCHAR(10))")
	require.NoError(t, err)
	_, err = direct.Exec("INSERT IGNORE INTO app.errs VALUES (1, 'one')")
	require.NoError(t, err)

	ctx := context.Background()
	cases := []struct {
		name string
		code uint16
		// run executes the failing statement on one side.
		run func(db *sql.DB) error
	}{
		{"1146 no such table (text)", 1146, func(db *sql.DB) error {
			_, err := db.Query("SELECT * FROM app.no_such_table")
			return err
		}},
		{"1146 no such table (prepare)", 1146, func(db *sql.DB) error {
			_, err := db.Query("SELECT * FROM app.no_such_table WHERE id = ?", 1)
			return err
		}},
		{"1062 duplicate key (text)", 1062, func(db *sql.DB) error {
			_, err := db.Exec("INSERT INTO app.errs VALUES (1, 'again')")
			return err
		}},
		{"1062 duplicate key (prepared)", 1062, func(db *sql.DB) error {
			_, err := db.Exec("INSERT INTO app.errs VALUES (?, ?)", 1, "again")
			return err
		}},
		{"1064 syntax", 1064, func(db *sql.DB) error {
			_, err := db.Exec("SELEC 1 FROM")
			return err
		}},
		{"1064 syntax (prepare)", 1064, func(db *sql.DB) error {
			_, err := db.Exec("SELEC ? FROM", 1)
			return err
		}},
		{"1049 unknown db via USE", 1049, func(db *sql.DB) error {
			c, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.ExecContext(ctx, "USE no_such_db")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			derr, perr := tc.run(direct), tc.run(proxied)
			require.Equal(t, tc.code, myErr(t, derr).Number, "direct: %v", derr)
			sameError(t, derr, perr)
		})
	}

	t.Run("1049 unknown db via DSN dbname", func(t *testing.T) {
		open := func(addr string) error {
			db, err := sql.Open("mysql", dsn(addr, "app", "no_such_db"))
			require.NoError(t, err)
			defer db.Close()
			return db.Ping()
		}
		derr, perr := open(primary()), open(a.Addr())
		require.Equal(t, uint16(1049), myErr(t, derr).Number)
		sameError(t, derr, perr)
	})

	t.Run("1049 unknown db via COM_INIT_DB", func(t *testing.T) {
		initDB := func(addr string) *gomysql.MyError {
			c, err := client.Connect(addr, "app", "app", "")
			require.NoError(t, err)
			defer c.Close()
			err = c.UseDB("no_such_db")
			var me *gomysql.MyError
			require.ErrorAs(t, err, &me, "COM_INIT_DB no_such_db: %v", err)
			// the session survives its failed COM_INIT_DB
			r, err := c.Execute("SELECT 41 + 1")
			require.NoError(t, err)
			v, err := r.GetInt(0, 0)
			require.NoError(t, err)
			require.Equal(t, int64(42), v)
			return me
		}
		d, p := initDB(primary()), initDB(a.Addr())
		require.Equal(t, uint16(1049), d.Code)
		require.Equal(t, *d, *p)
	})

	t.Run("session usable after errors", func(t *testing.T) {
		var v string
		require.NoError(t, proxied.QueryRow("SELECT v FROM app.errs WHERE id = 1").Scan(&v))
		require.Equal(t, "one", v)
	})
}
