package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// startServer starts an admin Server over a fakeRuntime.
func startServer(t *testing.T) (*Server, *fakeRuntime, *observer.ObservedLogs) {
	t.Helper()
	cfg := testConfig()
	cfg.Admin.Datadir = t.TempDir()
	rt := &fakeRuntime{cfg: cfg}
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := New(Options{Runtime: rt, Log: zap.New(core)})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, rt, logs
}

func adminDSN(s *Server, user, pass, db string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", user, pass, s.Addr(), db)
}

func openAdmin(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxIdleConns(0)
	return db
}

func driverErr(t *testing.T, err error) *mysqldrv.MySQLError {
	t.Helper()
	var me *mysqldrv.MySQLError
	require.True(t, errors.As(err, &me), "want a MySQL error, got %v", err)
	return me
}

func TestServerOverTheWire(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the server and clients closed
	s, rt, logs := startServer(t)
	db := openAdmin(t, adminDSN(s, "admin", "admin", ""))
	require.NoError(t, db.Ping())

	var comment string
	require.NoError(t, db.QueryRow("select @@version_comment limit 1").Scan(&comment))
	require.Equal(t, "rwproxy admin", comment)

	rows, err := db.Query("SELECT hostgroup_id, hostname, port, weight FROM mysql_servers ORDER BY port")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var hg, port, weight int
		var host string
		require.NoError(t, rows.Scan(&hg, &host, &port, &weight))
		got = append(got, fmt.Sprintf("%d %s:%d w%d", hg, host, port, weight))
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"10 127.0.0.1:3306 w1", "20 127.0.0.1:3307 w1", "20 127.0.0.1:3308 w1"}, got)

	var empty, null sql.NullString
	require.NoError(t, db.QueryRow("SELECT comment, NULL FROM mysql_servers WHERE port=3307").Scan(&empty, &null))
	require.Equal(t, sql.NullString{String: "", Valid: true}, empty, "an empty string is not NULL")
	require.False(t, null.Valid)

	r, err := db.Exec("UPDATE mysql_servers SET weight=4 WHERE port=3308")
	require.NoError(t, err)
	n, _ := r.RowsAffected()
	require.EqualValues(t, 1, n)
	_, err = db.Exec("LOAD MYSQL SERVERS TO RUNTIME")
	require.NoError(t, err)
	require.Equal(t, 4, rt.Config().Servers[2].Weight)

	// Errors keep their MySQL codes.
	_, err = db.Exec("INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (20, '127.0.0.1', 3308)")
	require.EqualValues(t, erDupEntry, driverErr(t, err).Number)
	_, err = db.Exec("UPDATE mysql_users SET default_hostgroup=42; LOAD MYSQL USERS TO RUNTIME")
	me := driverErr(t, err)
	require.EqualValues(t, erUnknown, me.Number)
	require.Contains(t, me.Message, "hostgroup 42 has no servers")
	_, err = db.Query("SELECT * FROM mysql_servers WHERE port = ?", 3306)
	require.EqualValues(t, erUnsupportedPS, driverErr(t, err).Number)

	// The audit line names the user and the client, masks the password.
	_, err = db.Exec("UPDATE mysql_users SET password='hunter2' WHERE username='app'")
	require.NoError(t, err)
	audit := logs.FilterMessage("admin change").FilterField(zap.String("statement", "UPDATE mysql_users SET password='***' WHERE username='app'"))
	require.Equal(t, 1, audit.Len())
	fields := audit.All()[0].ContextMap()
	require.Equal(t, "admin", fields["admin_user"])
	require.Regexp(t, `^127\.0\.0\.1:\d+$`, fields["client_addr"])
	require.Equal(t, "ok", fields["outcome"])
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			require.NotContains(t, fmt.Sprint(v), "hunter2")
		}
	}
	loads := logs.FilterMessage("admin change").FilterField(zap.String("statement", "LOAD MYSQL SERVERS TO RUNTIME")).All()
	require.Len(t, loads, 1)
	require.Contains(t, loads[0].ContextMap()["changes"], "weight: 1 -> 4")
}

func TestServerLogin(t *testing.T) {
	s, _, logs := startServer(t)
	require.NoError(t, openAdmin(t, adminDSN(s, "admin", "admin", "")).Ping())
	for _, dsn := range []string{adminDSN(s, "admin", "wrong", ""), adminDSN(s, "root", "admin", "")} {
		err := openAdmin(t, dsn).Ping()
		require.EqualValues(t, 1045, driverErr(t, err).Number)
	}
	require.Equal(t, 2, logs.FilterMessage("admin login refused").Len())

	// The schema given at login (COM_INIT_DB / handshake) is used.
	db := openAdmin(t, adminDSN(s, "admin", "admin", "monitor"))
	var name string
	require.NoError(t, db.QueryRow("SELECT DATABASE()").Scan(&name))
	require.Equal(t, "monitor", name)
	err := openAdmin(t, adminDSN(s, "admin", "admin", "nope")).Ping()
	require.EqualValues(t, erBadDB, driverErr(t, err).Number)

	// New credentials apply to the next login, live.
	db = openAdmin(t, adminDSN(s, "admin", "admin", ""))
	_, err = db.Exec("SET admin-admin_credentials = 'ops:s3cret'")
	require.NoError(t, err)
	_, err = db.Exec("LOAD ADMIN VARIABLES TO RUNTIME")
	require.NoError(t, err)
	require.NoError(t, openAdmin(t, adminDSN(s, "ops", "s3cret", "")).Ping())
	err = openAdmin(t, adminDSN(s, "admin", "admin", "")).Ping()
	require.EqualValues(t, 1045, driverErr(t, err).Number)
}

func TestServerCloseEndsConnections(t *testing.T) {
	cfg := testConfig()
	cfg.Admin.Datadir = t.TempDir()
	s, err := New(Options{Runtime: &fakeRuntime{cfg: cfg}})
	require.NoError(t, err)
	s.Start()
	db := openAdmin(t, adminDSN(s, "admin", "admin", ""))
	db.SetMaxIdleConns(1)
	require.NoError(t, db.Ping())
	require.NoError(t, s.Close())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = db.ExecContext(ctx, "SELECT 1")
	require.Error(t, err)
}

// TestServerConcurrentClients runs readers of the refreshed tables and
// writers with LOADs from several connections at once (run with -race).
func TestServerConcurrentClients(t *testing.T) {
	s, rt, _ := startServer(t)
	rt.stats = testStats()
	db := openAdmin(t, adminDSN(s, "admin", "admin", ""))
	db.SetMaxOpenConns(8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil && n < 40; n++ {
				var err error
				switch i % 3 {
				case 0:
					_, err = db.Exec(fmt.Sprintf("UPDATE mysql_servers SET weight=%d WHERE port=3308; LOAD MYSQL SERVERS TO RUNTIME", n%5+1))
				case 1:
					var c int
					err = db.QueryRow("SELECT COUNT(*) FROM runtime_mysql_servers r JOIN stats_mysql_connection_pool p ON p.srv_port = r.port").Scan(&c)
				default:
					var c int
					err = db.QueryRow("SELECT COUNT(*) FROM stats_mysql_query_digest_reset").Scan(&c)
				}
				if err != nil {
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
	require.Equal(t, 80, rt.resets)
}
