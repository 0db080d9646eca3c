package admin

import (
	"crypto/tls"
	"database/sql"
	"net"
	"sync/atomic"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/certs"
)

func startServerWith(t *testing.T, o Options, edit func(c *config.Config)) *Server {
	t.Helper()
	cfg := testConfig()
	cfg.Admin.Datadir = t.TempDir()
	edit(cfg)
	require.NoError(t, cfg.Validate())
	o.Runtime, o.Log = &fakeRuntime{cfg: cfg}, zap.NewNop()
	s, err := New(o)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// The read-only account (admin.stats_username) reads the stats, monitor
// and password-free runtime tables, and nothing else, whatever the path.
func TestReadOnlyAccount(t *testing.T) {
	s := startServerWith(t, Options{}, func(c *config.Config) { c.Admin.StatsUsername, c.Admin.StatsPassword = "stats", "stats-pw-1" })
	ro := openAdmin(t, adminDSN(s, "stats", "stats-pw-1", "main"))
	var n int
	for _, q := range []string{
		"SELECT count(*) FROM stats.stats_mysql_global",
		"SELECT count(*) FROM stats_mysql_global",
		"SELECT count(*) FROM runtime_mysql_servers",
		"SELECT count(*) FROM monitor.mysql_server_ping_log",
	} {
		require.NoError(t, ro.QueryRow(q).Scan(&n), q)
	}
	require.NoError(t, ro.QueryRow("SELECT count(*) FROM runtime_mysql_servers").Scan(&n))
	require.Equal(t, 3, n)
	for _, q := range []string{
		"SELECT password FROM mysql_users",
		"SELECT password FROM runtime_mysql_users",
		"SELECT password FROM disk.mysql_users",
		"SELECT (SELECT password FROM mysql_users LIMIT 1)",
		"WITH p AS (SELECT variable_value FROM global_variables) SELECT * FROM p",
		"SHOW VARIABLES",
		"UPDATE mysql_servers SET weight = 9",
		"WITH x AS (SELECT 1) UPDATE mysql_servers SET weight = 9",
		"DELETE FROM mysql_users",
		"SET mysql-max_connections = 5",
		"LOAD MYSQL SERVERS TO RUNTIME",
		"SAVE MYSQL USERS TO DISK",
	} {
		_, err := ro.Exec(q)
		require.Error(t, err, q)
		require.Equal(t, uint16(erReadOnly), driverErr(t, err).Number, q)
	}
	// The admin account keeps its rights, and sees nothing changed.
	rw := openAdmin(t, adminDSN(s, "admin", "admin", "main"))
	require.NoError(t, rw.QueryRow("SELECT count(*) FROM mysql_users").Scan(&n))
	require.Equal(t, 2, n)
	require.NoError(t, rw.QueryRow("SELECT max(weight) FROM mysql_servers").Scan(&n))
	require.Equal(t, 1, n)
	_, err := rw.Exec("UPDATE mysql_servers SET weight = 2")
	require.NoError(t, err)
	// A wrong password for the read-only account is refused.
	_, err = openAdmin(t, adminDSN(s, "stats", "nope", "main")).Exec("SELECT 1")
	require.Equal(t, uint16(1045), driverErr(t, err).Number)
}

// admin.tls_cert and admin.tls_key offer TLS on the admin port.
func TestAdminTLS(t *testing.T) {
	ca := certs.NewCA(t, "rwproxy admin test CA")
	files := ca.WriteFiles(t, t.TempDir(), "127.0.0.1")
	require.NoError(t, mysqldrv.RegisterTLSConfig("admin-test", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	t.Cleanup(func() { mysqldrv.DeregisterTLSConfig("admin-test") })

	plain := startServerWith(t, Options{}, func(*config.Config) {})
	_, err := openAdmin(t, adminDSN(plain, "admin", "admin", "main")+"?tls=admin-test").Exec("SELECT 1")
	require.Error(t, err, "no TLS offered without admin.tls_cert")

	s := startServerWith(t, Options{}, func(c *config.Config) { c.Admin.TLSCert, c.Admin.TLSKey = files.Cert, files.Key })
	var n int
	require.NoError(t, openAdmin(t, adminDSN(s, "admin", "admin", "main")+"?tls=admin-test").QueryRow("SELECT count(*) FROM mysql_users").Scan(&n))
	require.Equal(t, 2, n)
	require.NoError(t, openAdmin(t, adminDSN(s, "admin", "admin", "main")).QueryRow("SELECT 1").Scan(&n), "TLS stays optional")
}

type refuseAll struct{ calls atomic.Int32 }

func (r *refuseAll) Admit(nc net.Conn, _ func() *config.Config) bool {
	r.calls.Add(1)
	_ = nc.Close()
	return false
}

// Options.Logins sees every admin connection before its greeting.
func TestAdminLoginsLimited(t *testing.T) {
	lim := &refuseAll{}
	s := startServerWith(t, Options{Logins: lim}, func(*config.Config) {})
	db, err := sql.Open("mysql", adminDSN(s, "admin", "admin", "main"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.Error(t, db.Ping())
	require.GreaterOrEqual(t, lim.calls.Load(), int32(1))
}
