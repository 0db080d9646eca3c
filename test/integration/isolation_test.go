package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// isoClient is one client session with its own settings and what it must
// observe of them.
type isoClient struct {
	name  string
	conn  *sql.Conn
	setup []string
	// expectations
	sqlMode, timeZone, db, charset string
	offsetMin                      int
	// lit is a non-ASCII string in the client's own character set; litHex
	// is its UTF-8 encoding, which the server must decode it to.
	lit, litHex string
	// zeroDateErr: inserting a zero date fails (strict + NO_ZERO_DATE).
	zeroDateErr bool
}

const isoQuery = "SELECT @@sql_mode, @@time_zone, IFNULL(DATABASE(), 'NULL'), " +
	"TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW()), @@character_set_client, @@character_set_results, " +
	"HEX(CONVERT('%s' USING utf8mb4)), '%s', @@in_transaction"

// check runs the probe query and compares every value with c's settings.
// It returns an error rather than failing t, so that it can run in a
// goroutine.
func (c *isoClient) check(round int) error {
	ctx := context.Background()
	var sqlMode, tz, db, csClient, csResults, hexLit, lit string
	var offset, inTrx int
	err := c.conn.QueryRowContext(ctx, fmt.Sprintf(isoQuery, c.lit, c.lit)).
		Scan(&sqlMode, &tz, &db, &offset, &csClient, &csResults, &hexLit, &lit, &inTrx)
	if err != nil {
		return fmt.Errorf("%s round %d: probe: %w", c.name, round, err)
	}
	got := []any{sqlMode, tz, db, offset, csClient, csResults, hexLit, lit, inTrx}
	want := []any{c.sqlMode, c.timeZone, c.db, c.offsetMin, c.charset, c.charset, c.litHex, c.lit, 0}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("%s round %d: sql_mode, time_zone, DATABASE(), NOW() offset, charset client/results, literal hex, literal, in_transaction:\nwant %q\ngot  %q",
			c.name, round, want, got)
	}
	// The sql_mode is in force, not only reported.
	_, err = c.conn.ExecContext(ctx, "INSERT INTO app.iso_dates VALUES ('0000-00-00')")
	var me *mysql.MySQLError
	switch {
	case c.zeroDateErr && !(errors.As(err, &me) && me.Number == 1292):
		return fmt.Errorf("%s round %d: zero date: want error 1292, got %v", c.name, round, err)
	case !c.zeroDateErr && err != nil:
		return fmt.Errorf("%s round %d: zero date: want it accepted, got %w", c.name, round, err)
	}
	return nil
}

// TestSessionIsolationOnePooledConn lets two client sessions with different
// session state share the proxy's only backend connection to the primary:
// each must see its own state, every time.
func TestSessionIsolationOnePooledConn(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, func(c *config.Config) {
		c.Servers[0].MaxConnections = 1
	})
	direct := openDB(t, dsn(primary(), "app", "app"))
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS app.iso_dates (d DATE)",
		"CREATE TABLE IF NOT EXISTS app.iso_text (id INT PRIMARY KEY, s VARCHAR(20) CHARACTER SET utf8mb4)",
		"DELETE FROM app.iso_text",
	} {
		_, err := direct.Exec(q)
		require.NoError(t, err)
	}
	// Two separate database/sql pools, one connection each.
	open := func() *sql.Conn {
		// Logged in with a schema: a session without one needs a backend
		// connection that never had one (TestNoSchemaNotInherited).
		db := openDB(t, dsn(a.Addr(), "app", "app"))
		db.SetMaxOpenConns(1)
		return conn(t, db)
	}
	clients := []*isoClient{
		{name: "A", conn: open(),
			setup:   []string{"SET sql_mode = ''", "SET time_zone = '+00:00'", "USE app", "SET NAMES latin1"},
			sqlMode: "", timeZone: "+00:00", db: "app", offsetMin: 0, charset: "latin1",
			lit: "\xe9t\xe9", litHex: "C3A974C3A9", zeroDateErr: false},
		{name: "B", conn: open(),
			setup:   []string{"SET sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE'", "SET time_zone = '+09:00'", "USE sbtest", "SET NAMES utf8mb4"},
			sqlMode: "STRICT_ALL_TABLES,NO_ZERO_DATE", timeZone: "+09:00", db: "sbtest", offsetMin: 540, charset: "utf8mb4",
			lit: "été", litHex: "C3A974C3A9", zeroDateErr: true},
	}
	ctx := context.Background()
	for _, c := range clients {
		for _, q := range c.setup {
			_, err := c.conn.ExecContext(ctx, q)
			require.NoError(t, err, "%s: %s", c.name, q)
		}
	}
	stats := a.Pools.Stats(primary())
	require.NotNil(t, stats)

	t.Run("interleaved", func(t *testing.T) {
		for round := 0; round < 50; round++ {
			// alternate who goes first, so that each one's state is
			// replayed over the other's every time
			first, second := clients[round%2], clients[1-round%2]
			require.NoError(t, first.check(round))
			require.NoError(t, second.check(round))
		}
	})

	t.Run("non-ASCII round trip across character sets", func(t *testing.T) {
		A, B := clients[0], clients[1]
		_, err := A.conn.ExecContext(ctx, "INSERT INTO app.iso_text VALUES (1, '\xe9t\xe9 \xfc')") // latin1 bytes
		require.NoError(t, err)
		_, err = B.conn.ExecContext(ctx, "INSERT INTO app.iso_text VALUES (2, 'ñandú ß')") // UTF-8
		require.NoError(t, err)
		read := func(c *isoClient, id int) string {
			var s string
			require.NoError(t, c.conn.QueryRowContext(ctx, "SELECT s FROM app.iso_text WHERE id = ?", id).Scan(&s))
			return s
		}
		require.Equal(t, "été ü", read(B, 1), "B (utf8mb4) reads what A wrote in latin1")
		require.Equal(t, "\xf1and\xfa \xdf", read(A, 2), "A (latin1) reads what B wrote in utf8mb4")
		require.Equal(t, "\xe9t\xe9 \xfc", read(A, 1))
		require.Equal(t, "ñandú ß", read(B, 2))
		var stored string
		require.NoError(t, direct.QueryRow("SELECT HEX(s) FROM app.iso_text WHERE id = 1").Scan(&stored))
		require.Equal(t, "C3A974C3A920C3BC", stored, "stored as UTF-8")
	})

	t.Run("concurrent", func(t *testing.T) {
		// Both sessions at once: one waits while the other holds the only
		// backend connection, then gets it (with its own state).
		var wg sync.WaitGroup
		errs := make(chan error, len(clients))
		for _, c := range clients {
			wg.Go(func() {
				for round := 0; round < 50; round++ {
					if err := c.check(round); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})

	require.Equal(t, uint64(1), stats.ConnOK.Load(), "one backend connection served both sessions")
	require.Zero(t, stats.ConnERR.Load())
}
