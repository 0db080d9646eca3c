package ops

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// adminDB opens the proxy's admin interface.
func adminDB(t *testing.T, p *proxy, password string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", "admin:"+password+"@tcp("+p.admin+")/?timeout=5s")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// value returns the single value q yields, as text.
func value(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var v sql.NullString
	require.NoError(t, db.QueryRow(q).Scan(&v), q)
	return v.String
}

// weights returns hostname:port -> weight of the reader hostgroup in table.
func weights(t *testing.T, db *sql.DB, table string) map[int]int {
	t.Helper()
	rows, err := db.Query("SELECT port, weight FROM " + table + " WHERE hostgroup_id = 20")
	require.NoError(t, err)
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var port, w int
		require.NoError(t, rows.Scan(&port, &w))
		out[port] = w
	}
	require.NoError(t, rows.Err())
	return out
}

// TestAdminSourceOwnsSharedModules (config_source: admin, the default): an
// edit of the file is not applied, neither by the (absent) watch nor by
// SIGHUP nor by a restart — rwproxy.db wins, and the log says the file
// differs; LOAD ... FROM CONFIG applies it on purpose.
func TestAdminSourceOwnsSharedModules(t *testing.T) {
	p := newProxy(t, "")
	p.write(t, p.render(1, 1))
	p.start(t, nil)
	require.Contains(t, p.log(t), `"module":"MYSQL SERVERS","source":"file"`, "first start: seeded from the file")
	adm := adminDB(t, p, "admin")
	// An admin change, saved.
	_, err := adm.Exec(fmt.Sprintf("UPDATE mysql_servers SET weight=5 WHERE port=%d", sb.Ports[2]))
	require.NoError(t, err)
	for _, q := range []string{"LOAD MYSQL SERVERS TO RUNTIME", "SAVE MYSQL SERVERS TO DISK"} {
		_, err = adm.Exec(q)
		require.NoError(t, err, q)
	}
	// The file is edited (a config-management run) and SIGHUP sent.
	p.write(t, "# managed by ansible\n"+p.render(0, 1))
	p.signal(t, syscall.SIGHUP)
	require.Eventually(t, func() bool { return contains(p.log(t), "the file differs from the running MYSQL SERVERS") },
		30*time.Second, 50*time.Millisecond)
	want := map[int]int{sb.Ports[1]: 1, sb.Ports[2]: 5}
	require.Equal(t, want, weights(t, adm, "runtime_mysql_servers"), "SIGHUP does not undo the admin's change")
	require.Equal(t, want, weights(t, adm, "mysql_servers"))
	require.Equal(t, want, weights(t, adm, "disk.mysql_servers"))

	// A restart: the database still wins, and the log says the file differs.
	p.stop(t)
	p.start(t, nil)
	adm = adminDB(t, p, "admin")
	require.Equal(t, want, weights(t, adm, "runtime_mysql_servers"), "rwproxy.db wins at restart")
	require.Contains(t, p.log(t), `"module":"MYSQL SERVERS","source":"database","file_differs":true`)
	require.Contains(t, p.log(t), `"module":"MYSQL USERS","source":"database","file_differs":false`)

	// On purpose: the file's servers.
	for _, q := range []string{"LOAD MYSQL SERVERS FROM CONFIG", "LOAD MYSQL SERVERS TO RUNTIME"} {
		_, err = adm.Exec(q)
		require.NoError(t, err, q)
	}
	require.Equal(t, map[int]int{sb.Ports[1]: 0, sb.Ports[2]: 1}, weights(t, adm, "runtime_mysql_servers"))
}

// TestFileSourceOwnsSharedModules (config_source: file): the file is
// applied when it changes, MEMORY and DISK follow, and admin writes to the
// shared modules are refused with an error naming the file.
func TestFileSourceOwnsSharedModules(t *testing.T) {
	p := newProxy(t, "config_source: file\n")
	p.write(t, p.render(1, 1))
	p.start(t, nil)
	adm := adminDB(t, p, "admin")
	_, err := adm.Exec(fmt.Sprintf("UPDATE mysql_servers SET weight=5 WHERE port=%d", sb.Ports[2]))
	require.NoError(t, err, "MEMORY is a scratch copy")
	_, err = adm.Exec("LOAD MYSQL SERVERS TO RUNTIME")
	require.ErrorContains(t, err, "config_source is file, so "+p.cfg+" owns MYSQL SERVERS")
	_, err = adm.Exec("SAVE MYSQL SERVERS TO DISK")
	require.ErrorContains(t, err, "config_source is file")

	p.write(t, p.render(3, 1)) // noticed by the watch alone
	want := map[int]int{sb.Ports[1]: 3, sb.Ports[2]: 1}
	require.Eventually(t, func() bool {
		return fmt.Sprint(weights(t, adm, "runtime_mysql_servers")) == fmt.Sprint(want)
	}, 30*time.Second, 100*time.Millisecond, "the file's change applies")
	require.Eventually(t, func() bool {
		return fmt.Sprint(weights(t, adm, "mysql_servers")) == fmt.Sprint(want) &&
			fmt.Sprint(weights(t, adm, "disk.mysql_servers")) == fmt.Sprint(want)
	}, 30*time.Second, 100*time.Millisecond, "MEMORY and DISK follow the file")
	p.stop(t)
	p.write(t, p.render(2, 1))
	p.start(t, nil)
	require.Equal(t, map[int]int{sb.Ports[1]: 2, sb.Ports[2]: 1}, weights(t, adminDB(t, p, "admin"), "runtime_mysql_servers"),
		"at restart the file wins over rwproxy.db")
}

// TestEnvOverridesWin: the environment wins over rwproxy.db for shared keys
// and over the file for node-local ones, every override is logged, a
// rotated admin password works and the old saved one does not, and an
// admin change to an overridden key is refused.
func TestEnvOverridesWin(t *testing.T) {
	p := newProxy(t, "max_connections: 2000\n")
	p.write(t, p.render(1, 1))
	p.start(t, nil)
	adm := adminDB(t, p, "admin")
	for _, q := range []string{"SET admin-admin_credentials = 'admin:saved-secret'", "SAVE ADMIN VARIABLES TO DISK",
		"SAVE MYSQL VARIABLES TO DISK"} {
		_, err := adm.Exec(q)
		require.NoError(t, err, q)
	}
	p.stop(t)
	p.start(t, []string{"RWPROXY_MAX_CONNECTIONS=77", "RWPROXY_ADMIN_PASSWORD=rotated-secret", "RWPROXY_MAX_CONECTIONS=1"})
	log := p.log(t)
	require.Contains(t, log, `"msg":"environment override","variable":"RWPROXY_MAX_CONNECTIONS","key":"max_connections","value":"77"`)
	require.Contains(t, log, `"variable":"RWPROXY_ADMIN_PASSWORD","key":"admin.password","value":"(secret)"`)
	require.Contains(t, log, `"msg":"environment variable ignored: it names no configuration key","variable":"RWPROXY_MAX_CONECTIONS"`)
	require.NotContains(t, log, "rotated-secret")

	adm = adminDB(t, p, "rotated-secret")
	require.Equal(t, "77", value(t, adm, "SELECT variable_value FROM runtime_global_variables WHERE variable_name='mysql-max_connections'"))
	_, err := adminDB(t, p, "saved-secret").Exec("SELECT 1")
	require.ErrorContains(t, err, "Access denied", "the saved admin password is not used")

	_, err = adm.Exec("SET mysql-max_connections = 100")
	require.NoError(t, err)
	_, err = adm.Exec("LOAD MYSQL VARIABLES TO RUNTIME")
	require.ErrorContains(t, err, "max_connections is set by RWPROXY_MAX_CONNECTIONS on this node")
}

// TestInitialTwiceKeepsBackups: every --initial keeps the database it
// replaces under its own name and logs where.
func TestInitialTwiceKeepsBackups(t *testing.T) {
	p := newProxy(t, "")
	p.write(t, p.render(1, 1))
	p.start(t, nil)
	p.stop(t)
	for range 2 {
		p.start(t, nil, "--initial")
		p.stop(t)
	}
	baks, err := filepath.Glob(filepath.Join(p.datadir, "rwproxy.db.bak-*"))
	require.NoError(t, err)
	var dbs []string
	for _, b := range baks {
		if !strings.HasSuffix(b, "-journal") && !strings.HasSuffix(b, "-wal") {
			dbs = append(dbs, b)
		}
	}
	require.Len(t, dbs, 2, "two --initial runs, two backups: %v", baks)
	for _, b := range dbs {
		require.Contains(t, p.log(t), `"msg":"--initial: the previous rwproxy.db is kept","backup":"`+b+`"`)
	}
}

// TestTwoNodesOnOneHost: a second node whose http.listen is taken fails
// before it opens any port, naming the key; with its own ports it runs.
func TestTwoNodesOnOneHost(t *testing.T) {
	a := startProxy(t, 1, 1)
	b := newProxy(t, "")
	b.http = a.http // the default http.listen of both
	b.write(t, b.render(1, 1))
	b.launch(t, nil)
	err := b.waitExit(t)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	log := b.log(t)
	require.Contains(t, log, "cannot start, nothing was opened")
	require.Contains(t, log, "http.listen "+a.http+" (tcp): address already in use")
	require.NotContains(t, log, "rwproxy listening")
	require.NotContains(t, log, "stacktrace")
	for _, addr := range []string{b.addr, b.admin} {
		c, err := (&netDialer{}).dial(addr)
		if err == nil {
			_ = c.Close()
		}
		require.Error(t, err, "%s was never opened", addr)
	}
}

// TestVersionIdentity: the binary, the start log, the admin interface,
// /metrics and /api/status report the same version and commit.
func TestVersionIdentity(t *testing.T) {
	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	line := strings.TrimSpace(string(out))
	require.Regexp(t, `^rwproxy \S+ \(commit \S+`, line)
	version := strings.Fields(line)[1]
	for _, args := range [][]string{{"-v"}, {"version"}} {
		o, err := exec.Command(bin, args...).Output()
		require.NoError(t, err)
		require.Equal(t, line, strings.TrimSpace(string(o)))
	}
	o, err := exec.Command(bin, "help").Output()
	require.NoError(t, err)
	require.Contains(t, string(o), "config dump")
	err = exec.Command(bin, "hepl").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "unknown arguments are refused")

	p := startProxy(t, 1, 1)
	require.Contains(t, p.log(t), `"msg":"rwproxy starting","version":"`+version+`"`)
	require.Equal(t, version, value(t, adminDB(t, p, "admin"), "SELECT @@admin-version"))
	require.Contains(t, httpGet(t, "http://"+p.http+"/metrics"), `rwproxy_build_info{commit="`)
	require.Contains(t, httpGet(t, "http://"+p.http+"/api/status"), `"build":{"version":"`+version+`"`)
}

// TestConfigDumpRoundTrip: SAVE CONFIG TO FILE and `rwproxy config dump`
// write YAML from which a new proxy starts with the same runtime tables.
func TestConfigDumpRoundTrip(t *testing.T) {
	p := startProxy(t, 1, 1)
	adm := adminDB(t, p, "admin")
	for _, q := range []string{fmt.Sprintf("UPDATE mysql_servers SET weight=4 WHERE port=%d", sb.Ports[1]),
		"LOAD MYSQL SERVERS TO RUNTIME", "SAVE MYSQL SERVERS TO DISK", "SET mysql-failover_buffer_ms = 1500",
		"LOAD MYSQL VARIABLES TO RUNTIME", "SAVE MYSQL VARIABLES TO DISK"} {
		_, err := adm.Exec(q)
		require.NoError(t, err, q)
	}
	saved := filepath.Join(t.TempDir(), "saved.yaml")
	_, err := adm.Exec("SAVE CONFIG TO FILE '" + saved + "'")
	require.NoError(t, err)
	dumped, err := exec.Command(bin, "config", "dump", "--config", p.cfg).Output()
	require.NoError(t, err)
	savedText, err := os.ReadFile(saved)
	require.NoError(t, err)
	require.Equal(t, string(savedText), string(dumped), "the running and the next start's configuration")

	tables := []string{"runtime_mysql_servers", "runtime_mysql_users", "runtime_global_variables",
		"runtime_mysql_replication_hostgroups", "runtime_mysql_query_rules"}
	before := dumpTables(t, adm, tables)
	p.stop(t)
	// The saved file, as the configuration of a fresh proxy (new datadir).
	q := newProxy(t, "")
	q.addr, q.admin, q.http = p.addr, p.admin, p.http
	require.NoError(t, os.WriteFile(q.cfg, []byte(strings.Replace(string(savedText), p.datadir, q.datadir, 1)), 0o600))
	q.start(t, nil)
	after := dumpTables(t, adminDB(t, q, "admin"), tables)
	require.Equal(t, before, after)
	require.Contains(t, after, fmt.Sprintf("%d", sb.Ports[1]))
}

// dumpTables renders every row of the tables as text.
func dumpTables(t *testing.T, db *sql.DB, tables []string) string {
	t.Helper()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.Query("SELECT * FROM " + tbl + " ORDER BY 1, 2")
		require.NoError(t, err, tbl)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			fmt.Fprintf(&b, "%s: %v\n", tbl, vals)
		}
		require.NoError(t, rows.Close())
	}
	return b.String()
}
