package admin

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// checksumOf is the checksum column of a CHECKSUM statement.
func checksumOf(t *testing.T, e *engine, q string) string {
	t.Helper()
	res := exec(t, e, q)
	require.Equal(t, []string{"table", "checksum"}, res.Columns)
	require.Len(t, res.Rows, 1)
	sum := res.Rows[0][1].(string)
	require.Regexp(t, `^0x[0-9A-F]{16}$`, sum)
	return sum
}

// PROXYSQL PAUSE and RESUME reach the Runtime; the read-only account may
// not run them.
func TestProxySQLPauseResume(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	exec(t, e, "PROXYSQL PAUSE")
	require.True(t, rt.paused)
	exec(t, e, "PROXYSQL RESUME")
	require.False(t, rt.paused)
	ro := &adminSession{User: "stats", Addr: "127.0.0.1:1", DB: schemaMain, ReadOnly: true}
	_, err := e.Exec(context.Background(), ro, "PROXYSQL PAUSE")
	require.Equal(t, uint16(erReadOnly), asMyError(t, err).Code)
	require.False(t, rt.paused)
	exec(t, e, "PROXYSQL FLUSH LOGS")
}

// PROXYSQL READONLY refuses every change of a table (INSERT, UPDATE,
// DELETE, SET) until PROXYSQL READWRITE; reads, LOAD and SAVE still run,
// as in ProxySQL; @@read_only says which mode the interface is in.
func TestProxySQLReadOnlyMode(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	require.Equal(t, "0", one(t, e, "SELECT @@read_only"))
	exec(t, e, "PROXYSQL READONLY")
	require.Equal(t, "1", one(t, e, "SELECT @@global.read_only"))
	require.Equal(t, [][]any{{"read_only", "1"}}, exec(t, e, "SHOW GLOBAL VARIABLES LIKE 'read_only'").Rows)
	for _, q := range []string{"UPDATE mysql_servers SET weight = 7", "DELETE FROM mysql_users",
		"INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (20, '10.0.0.9', 3306)",
		"SET mysql-max_connections = 77"} {
		require.Contains(t, execErr(t, e, q, erReadOnly), "PROXYSQL READWRITE", q)
	}
	require.Equal(t, "3", one(t, e, "SELECT COUNT(*) FROM mysql_servers"))
	exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME")
	exec(t, e, "SAVE MYSQL SERVERS TO DISK")
	exec(t, e, "PROXYSQL READWRITE")
	exec(t, e, "UPDATE mysql_servers SET weight = 7 WHERE port = 3307")
	exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME")
	require.Equal(t, 7, rt.Config().Servers[1].Weight)
}

// CHECKSUM [DISK | MEMORY | RUNTIME] <module> (and PROXYSQL CHECKSUM ...)
// answers the module's checksum in that layer: equal layers give equal
// checksums, a change in one layer shows until it is saved.
func TestChecksumLayers(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	disk := checksumOf(t, e, "CHECKSUM DISK MYSQL SERVERS")
	require.Equal(t, disk, checksumOf(t, e, "CHECKSUM MEMORY MYSQL SERVERS"))
	require.Equal(t, disk, checksumOf(t, e, "PROXYSQL CHECKSUM MEM MYSQL SERVERS"))
	require.Equal(t, disk, checksumOf(t, e, "CHECKSUM MYSQL SERVERS"), "MEMORY by default")

	exec(t, e, "UPDATE mysql_servers SET weight = 5 WHERE port = 3308")
	changed := checksumOf(t, e, "CHECKSUM MEM MYSQL SERVERS")
	require.NotEqual(t, disk, changed)
	require.Equal(t, disk, checksumOf(t, e, "CHECKSUM DISK MYSQL SERVERS"))
	require.Equal(t, disk, checksumOf(t, e, "CHECKSUM RUNTIME MYSQL SERVERS"), "not loaded yet")
	exec(t, e, "SAVE MYSQL SERVERS TO DISK")
	require.Equal(t, changed, checksumOf(t, e, "CHECKSUM DISK MYSQL SERVERS"))

	// One table by ProxySQL's name; the variables modules by prefix.
	rh := checksumOf(t, e, "CHECKSUM MEM MYSQL REPLICATION HOSTGROUPS")
	exec(t, e, "UPDATE mysql_replication_hostgroups SET comment = 'x'")
	require.NotEqual(t, rh, checksumOf(t, e, "CHECKSUM MEM MYSQL REPLICATION HOSTGROUPS"))
	users := checksumOf(t, e, "CHECKSUM MYSQL USERS")
	require.NotEqual(t, users, checksumOf(t, e, "CHECKSUM MYSQL QUERY RULES"))
	adminVars := checksumOf(t, e, "CHECKSUM ADMIN VARIABLES")
	exec(t, e, "SET mysql-max_connections = 77")
	require.Equal(t, adminVars, checksumOf(t, e, "CHECKSUM ADMIN VARIABLES"), "a mysql- variable is not in ADMIN VARIABLES")
	require.Contains(t, execErr(t, e, "CHECKSUM DISK MYSQL GALERA HOSTGROUPS", erSyntax), "unknown module")
}
