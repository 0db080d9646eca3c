package integration

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/importproxysql"
	"github.com/rwproxy/rwproxy/internal/testkit"
)

// importCnf is a proxysql.cnf for the sandbox: a primary and two replicas,
// a frontend/backend user pair, rules (one starting a chain, one in it).
const importCnf = `datadir="%[1]s"
admin_variables = { admin_credentials="admin:import-admin-pw" mysql_ifaces="127.0.0.1:0" }
mysql_variables = { threads=4 interfaces="127.0.0.1:0;/tmp/proxysql.sock" max_connections=300
	monitor_username="monitor" monitor_password="monitor" monitor_read_only_interval=500 }
mysql_servers = (
	{ address="127.0.0.1", port=%[2]d, hostgroup=10, max_connections=100 },
	{ address="127.0.0.1", port=%[3]d, hostgroup=20, max_replication_lag=10 },
	{ address="127.0.0.1", port=%[4]d, hostgroup=20, max_replication_lag=10 } )
mysql_users = (
	{ username="app", password="app", default_hostgroup=10 },
	{ username="imp_split", password="imp-front-pw", default_hostgroup=10, frontend=1, backend=0 },
	{ username="imp_split", password="imp-back-pw", default_hostgroup=10, frontend=0, backend=1 } )
mysql_query_rules = (
	{ rule_id=1, active=1, match_digest="^SELECT .* FOR UPDATE", destination_hostgroup=10, apply=1 },
	{ rule_id=2, active=1, match_pattern="^SELECT @@port AS imported_rule", destination_hostgroup=10, apply=1, flagOUT=0 },
	{ rule_id=3, active=1, flagIN=7, match_pattern=".", destination_hostgroup=20, apply=1 } )
mysql_replication_hostgroups = ( { writer_hostgroup=10, reader_hostgroup=20, check_type="read_only" } )
`

// TestImportProxySQLStartsAndRoutes converts a proxysql.cnf for the
// sandbox with rwproxy import-proxysql, starts rwproxy from the YAML it
// writes, and checks that the imported rule, split and users are live.
func TestImportProxySQLStartsAndRoutes(t *testing.T) {
	needSandbox(t)
	_, err := sb.SQL(1, "CREATE USER IF NOT EXISTS 'imp_split'@'127.0.0.1' IDENTIFIED BY 'imp-back-pw';"+
		" GRANT ALL PRIVILEGES ON *.* TO 'imp_split'@'127.0.0.1';")
	require.NoError(t, err)
	_, err = sb.Run("sync")
	require.NoError(t, err)

	dir := t.TempDir()
	cnf := filepath.Join(dir, "proxysql.cnf")
	require.NoError(t, os.WriteFile(cnf, []byte(fmt.Sprintf(importCnf, filepath.Join(dir, "data"),
		sb.Ports[0], sb.Ports[1], sb.Ports[2])), 0o600))
	var out, notes bytes.Buffer
	require.Equal(t, 0, importproxysql.Main([]string{cnf}, &out, &notes, os.ReadFile), notes.String())
	require.NotContains(t, notes.String(), "rule 3 left out", "rule chains are carried over")
	require.Contains(t, notes.String(), "/tmp/proxysql.sock")
	yaml := filepath.Join(dir, "rwproxy.yaml")
	require.NoError(t, os.WriteFile(yaml, out.Bytes(), 0o600))

	c, err := config.Load(yaml)
	require.NoError(t, err)
	require.Equal(t, 300, c.MaxConnections)
	require.Len(t, c.QueryRules, 3)
	require.Equal(t, 7, c.QueryRules[2].FlagIN, "rule 3 is in chain 7, which no rule enters")
	require.Equal(t, filepath.Join(dir, "data"), c.Admin.Datadir)
	a := testkit.StartProxy(t, c)
	addr := a.Addr()

	app := openDB(t, dsn(addr, "app", ""))
	var port int
	require.NoError(t, app.QueryRow("SELECT @@port AS imported_rule").Scan(&port))
	require.Equal(t, sb.Ports[0], port, "the imported rule sends this read to the writer")
	require.NoError(t, app.QueryRow("SELECT @@port").Scan(&port))
	require.NotEqual(t, sb.Ports[0], port, "other reads go to the replicas (read/write split)")

	split := openDB(t, fmt.Sprintf("imp_split:imp-front-pw@tcp(%s)/", addr))
	var user string
	require.NoError(t, split.QueryRow("SELECT CURRENT_USER()").Scan(&user))
	require.Equal(t, "imp_split@127.0.0.1", user, "the backend row's password logs into the backends")
}

// mysql_users.default_schema and schema_locked through the proxy: a login
// without a schema starts in default_schema; another schema, at login or
// by USE, is refused with 1044 (a user with transaction_persistent=0 and
// no lock logs in and moves freely).
func TestDefaultSchemaAndSchemaLocked(t *testing.T) {
	needSandbox(t)
	admSetupSchema(t)
	f := false
	a := startProxy(t, func(c *config.Config) {
		c.Users[0].DefaultSchema, c.Users[0].SchemaLocked = admSchema, true
		c.Users[1].DefaultSchema, c.Users[1].TransactionPersistent = admSchema, &f
	})
	db := openDB(t, dsn(a.Addr(), "app", ""))
	var schema string
	require.NoError(t, db.QueryRow("SELECT DATABASE()").Scan(&schema))
	require.Equal(t, admSchema, schema)
	c := conn(t, db)
	_, err := c.ExecContext(t.Context(), "USE mysql")
	require.Equal(t, uint16(1044), myErr(t, err).Number)
	_, err = c.ExecContext(t.Context(), "USE "+admSchema)
	require.NoError(t, err)

	other, err := sql.Open("mysql", dsn(a.Addr(), "app", "mysql"))
	require.NoError(t, err)
	defer other.Close()
	require.Equal(t, uint16(1044), myErr(t, other.Ping()).Number)

	// app2 is not locked: it starts in its default schema and may leave it.
	db2 := openDB(t, dsn(a.Addr(), "app2", ""))
	c2 := conn(t, db2)
	require.NoError(t, c2.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&schema))
	require.Equal(t, admSchema, schema)
	_, err = c2.ExecContext(t.Context(), "USE mysql")
	require.NoError(t, err)
}
