package admin

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/buildinfo"
)

// ProxySQL's frontend/backend split of mysql_users: a frontend row and a
// backend row make one user whose backend password is the backend row's;
// a lone backend row is a backend-only user; a lone frontend row is
// refused at LOAD, naming what is missing.
func TestUsersFrontendBackendRows(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	exec(t, e, "INSERT INTO mysql_users (username, password, default_hostgroup, backend, frontend, default_schema, comment) "+
		"VALUES ('split', 'front-secret-1', 10, 0, 1, 'shop', 'ansible')")
	msg := execErr(t, e, "LOAD MYSQL USERS TO RUNTIME", 1105)
	require.Contains(t, msg, `"split" has a frontend=1, backend=0 row but no backend=1 row`)
	exec(t, e, "INSERT INTO mysql_users (username, password, default_hostgroup, backend, frontend) "+
		"VALUES ('split', 'back-secret-12', 10, 1, 0), ('svc', 'svc-secret-123', 10, 1, 0)")
	// Two frontend rows for one name break UNIQUE (username, frontend).
	execErr(t, e, "INSERT INTO mysql_users (username, password, backend, frontend) VALUES ('split', 'x', 1, 1)", 1062)
	execErr(t, e, "INSERT INTO mysql_users (username, password, backend, frontend) VALUES ('none', 'x', 0, 0)", 3819)
	exec(t, e, "LOAD MYSQL USERS TO RUNTIME")
	users := map[string]config.User{}
	for _, u := range rt.Config().Users {
		users[u.Username] = u
	}
	split := users["split"]
	require.Equal(t, "front-secret-1", split.Password)
	require.Equal(t, "back-secret-12", split.BackendSecret())
	require.Equal(t, "shop", split.DefaultSchema)
	require.Equal(t, "ansible", split.Comment)
	require.True(t, split.CanLogin())
	require.False(t, users["svc"].CanLogin(), "a lone backend row is backend-only")
	require.Equal(t, "svc-secret-123", users["svc"].BackendSecret())
	require.Equal(t, []string{"0"}, firstColumn(t, e,
		"SELECT CAST(frontend AS TEXT) FROM runtime_mysql_users WHERE username = 'svc'"))
}

// The other ProxySQL user columns reach the running configuration.
func TestUsersProxySQLColumns(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	exec(t, e, "UPDATE mysql_users SET fast_forward = 1, transaction_persistent = 0, schema_locked = 1, "+
		"default_schema = 'shop', attributes = '{\"team\":\"ops\"}' WHERE username = 'app'")
	execErr(t, e, "UPDATE mysql_users SET attributes = '[1]' WHERE username = 'app'", 3819)
	exec(t, e, "LOAD MYSQL USERS TO RUNTIME")
	u := rt.Config().Users[0]
	require.True(t, u.FastForward)
	require.False(t, u.IsTransactionPersistent())
	require.True(t, u.SchemaLocked)
	require.Equal(t, `{"team":"ops"}`, u.Attributes)
	exec(t, e, "UPDATE mysql_users SET schema_locked = 1, default_schema = '' WHERE username = 'app'")
	require.Contains(t, execErr(t, e, "LOAD MYSQL USERS TO RUNTIME", 1105), "schema_locked")
}

// mysql_servers: use_ssl is use_tls, SHUNNED loads as ONLINE, gtid_port
// and max_latency_ms reach the configuration, compression is refused
// with the reason.
func TestServersProxySQLColumns(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	msg := execErr(t, e, "UPDATE mysql_servers SET compression = 1", 3819)
	require.Contains(t, msg, "compression")
	require.Contains(t, msg, "not supported")
	exec(t, e, "UPDATE mysql_servers SET use_ssl = 1, status = 'SHUNNED', gtid_port = 6020, max_latency_ms = 250 WHERE port = 3307")
	exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME")
	for _, s := range rt.Config().Servers {
		if s.Port != 3307 {
			require.False(t, s.UseTLS)
			continue
		}
		require.True(t, s.UseTLS)
		require.Equal(t, config.StatusOnline, s.Status)
		require.Equal(t, 6020, s.GTIDPort)
		require.Equal(t, 250*time.Millisecond, s.MaxLatency)
	}
	exec(t, e, "UPDATE mysql_replication_hostgroups SET check_type = 'read_only&innodb_read_only'")
	exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME")
	require.Equal(t, config.CheckReadOnlyAndInnodb, rt.Config().ReplicationHostgroups[0].CheckType)
	execErr(t, e, "UPDATE mysql_replication_hostgroups SET check_type = 'read_only|gtid'", 3819)
}

// A disk file of the previous version (mysql_users keyed by username
// alone, without ProxySQL's columns) is upgraded in place: its users load,
// and the new key accepts a frontend/backend pair.
func TestUsersDiskUpgradeFromSingleKey(t *testing.T) {
	dir := t.TempDir()
	yaml := testConfig()
	old := `CREATE TABLE mysql_users (
  username TEXT NOT NULL CHECK (username <> ''), password TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0,1)),
  default_hostgroup INTEGER NOT NULL DEFAULT 0 CHECK (default_hostgroup >= 0),
  transaction_persistent INTEGER NOT NULL DEFAULT 1 CHECK (transaction_persistent = 1),
  max_connections INTEGER NOT NULL DEFAULT 0 CHECK (max_connections >= 0),
  consistency TEXT NOT NULL DEFAULT 'eventual', read_your_writes_timeout_ms INTEGER NOT NULL DEFAULT 1000,
  auth_plugin TEXT NOT NULL DEFAULT 'mysql_native_password', require_tls INTEGER NOT NULL DEFAULT 0,
  backend_password TEXT NOT NULL DEFAULT '', query_timeout_ms INTEGER NOT NULL DEFAULT 0,
  allow_empty_password INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (username)) STRICT`
	olderDiskFile(t, dir, yaml,
		"DROP TABLE mysql_users", old,
		"INSERT INTO mysql_users (username, password, default_hostgroup, require_tls) VALUES ('app', 'app-secret', 10, 0), ('report', 'report-secret', 20, 0)",
		"ALTER TABLE mysql_servers DROP COLUMN max_latency_ms",
		"ALTER TABLE mysql_servers DROP COLUMN use_ssl",
	)

	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err, "the previous version's disk file is upgraded")
	require.Len(t, got.Users, 2)
	require.True(t, got.Users[0].CanLogin())
	require.Zero(t, got.Servers[0].MaxLatency)

	cfg := got.Clone()
	cfg.Admin.Datadir = dir
	e, _ := newTestEngine(t, cfg)
	exec(t, e, "UPDATE mysql_users SET frontend = 1, backend = 0 WHERE username = 'app'")
	exec(t, e, "INSERT INTO mysql_users (username, password, default_hostgroup, backend, frontend) VALUES ('app', 'app-backend', 10, 1, 0)")
	exec(t, e, "SAVE MYSQL USERS TO DISK")
	require.Equal(t, "2", one(t, e, "SELECT COUNT(*) FROM disk.mysql_users WHERE username = 'app'"))
}

// Cluster peers of the previous version read the users and servers
// modules: the new fields are left out of the JSON at their defaults.
func TestProxySQLFieldsOmittedFromClusterJSON(t *testing.T) {
	c := testConfig()
	for _, v := range []any{c.Users, c.Servers} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		for _, k := range []string{"Frontend", "DefaultSchema", "SchemaLocked", "TransactionPersistent", "FastForward",
			"Attributes", "GTIDPort", "MaxLatency"} {
			require.NotContains(t, string(b), `"`+k, "field %s at its default", k)
		}
	}
	b, err := json.Marshal(c.Users)
	require.NoError(t, err)
	require.NotContains(t, string(b), `"Comment"`)
}

// SELECT @@admin-version names the build; the PROXYSQL commands rwproxy
// has no use for are refused with the reason and the documentation's
// place (the others: TestProxySQLCommands).
func TestAdminVersionAndProxySQLCommands(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	require.Equal(t, buildinfo.Get().Version, one(t, e, "SELECT @@admin-version"))
	for _, q := range []string{"PROXYSQL SHUTDOWN", "PROXYSQL RESTART", "PROXYSQL STOP", "PROXYSQL FLUSH QUERY CACHE", "PROXYSQL NONSENSE"} {
		msg := execErr(t, e, q, 1235)
		require.Contains(t, msg, "not supported by rwproxy")
		require.Contains(t, msg, "docs/admin.md")
	}
	require.Contains(t, execErr(t, e, "KILL 12345", 1094), "Unknown thread id: 12345")
}

// mysql_collations lists MySQL's collations by id.
func TestMySQLCollations(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	res := exec(t, e, "SELECT Collation, Charset FROM mysql_collations WHERE Id IN (8, 45, 63) ORDER BY Id")
	require.Equal(t, []row{{"latin1_swedish_ci", "latin1"}, {"utf8mb4_general_ci", "utf8mb4"}, {"binary", "binary"}}, res.Rows)
	n, err := strconv.Atoi(asString(one(t, e, "SELECT COUNT(*) FROM mysql_collations")))
	require.NoError(t, err)
	require.Greater(t, n, 200)
}
