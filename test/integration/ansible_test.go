package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ansibleResult is what the json stdout callback reports of one task.
type ansibleResult struct {
	Failed  bool `json:"failed"`
	Changed bool `json:"changed"`
	Msg     any  `json:"msg"`
	// proxysql_info's: the table names, then each table's rows.
	Tables          []string          `json:"tables"`
	GlobalVariables map[string]string `json:"global_variables"`
	RuntimeServers  []map[string]any  `json:"runtime_mysql_servers"`
}

// ansiblePython runs the modules: Debian's, where python3-pymysql goes
// (not whatever python3 comes first in PATH).
const ansiblePython = "/usr/bin/python3"

// requirePyMySQL fails under CI (the modules need PyMySQL or mysqlclient;
// .ci/run installs python3-pymysql) and skips elsewhere.
func requirePyMySQL(t *testing.T) {
	t.Helper()
	if exec.Command(ansiblePython, "-c", "import pymysql").Run() == nil ||
		exec.Command(ansiblePython, "-c", "import MySQLdb").Run() == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3-pymysql missing (CI=true: .ci/run installs it)")
	}
	t.Skip("python3-pymysql missing: apt-get install python3-pymysql")
}

// TestAnsibleProxySQLModules runs Debian's community.proxysql Ansible
// modules against the admin port of a proxy in front of the sandbox: every
// task succeeds and its effect is live (runtime tables, a new user with
// ProxySQL's frontend/backend split logs in through the proxy, a
// fast_forward user and a query rule route as configured).
func TestAnsibleProxySQLModules(t *testing.T) {
	needSandbox(t, "ansible-playbook")
	requirePyMySQL(t)
	admSetupSchema(t)
	_, err := sb.SQL(1, "CREATE USER IF NOT EXISTS 'ans_user'@'127.0.0.1' IDENTIFIED BY 'ans_backend_pw';"+
		" GRANT ALL PRIVILEGES ON *.* TO 'ans_user'@'127.0.0.1';")
	require.NoError(t, err)
	_, err = sb.Run("sync")
	require.NoError(t, err)

	dir := t.TempDir()
	p := admStart(t, admYAML(filepath.Join(dir, "data")), filepath.Join(dir, "data"))
	_, adminPort := splitHostPortT(t, p.app.AdminAddr())
	replica := sb.Ports[1]

	// The scheduler job appends its first argument to the file its second names.
	script, schedOut := filepath.Join(dir, "job.sh"), filepath.Join(dir, "job.out")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" >> \"$2\"\n"), 0o700))
	play, err := filepath.Abs("testdata/proxysql-playbook.yml")
	require.NoError(t, err)
	vars, err := json.Marshal(map[string]any{"admin_port": adminPort, "replica_port": replica,
		"sched_script": script, "sched_out": schedOut})
	require.NoError(t, err)
	cmd := exec.Command("ansible-playbook", "-i", "localhost,", "-c", "local", play, "--extra-vars", string(vars))
	cmd.Env = append(os.Environ(), "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_NOCOLOR=1",
		"ANSIBLE_HOME="+filepath.Join(dir, "ansible"), "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "ansible-tmp"),
		"ANSIBLE_REMOTE_TEMP="+filepath.Join(dir, "ansible-remote-tmp"),
		"ANSIBLE_PYTHON_INTERPRETER="+ansiblePython, "ANSIBLE_RETRY_FILES_ENABLED=0")
	cmd.Dir = dir // no ansible.cfg of the working directory
	out, runErr := cmd.Output()
	var report struct {
		Plays []struct {
			Tasks []struct {
				Task  struct{ Name string }    `json:"task"`
				Hosts map[string]ansibleResult `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	require.NoError(t, json.Unmarshal(out, &report), "ansible-playbook output (run error %v):\n%s", runErr, out)
	require.Len(t, report.Plays, 1)
	tasks := report.Plays[0].Tasks
	require.Len(t, tasks, 10, "%s", out)
	results := make(map[string]ansibleResult)
	for _, task := range tasks {
		r := task.Hosts["localhost"]
		require.False(t, r.Failed, "task %q failed: %v", task.Task.Name, r.Msg)
		results[task.Task.Name] = r
	}
	require.NoError(t, runErr, "%s", out)
	for name, r := range results {
		if name != "info" {
			require.True(t, r.Changed, "task %q changed nothing", name)
		}
	}
	for _, tbl := range []string{"mysql_servers", "mysql_users", "mysql_query_rules",
		"mysql_replication_hostgroups", "global_variables", "runtime_mysql_servers"} {
		require.Contains(t, results["info"].Tables, tbl)
	}
	require.Equal(t, "777", results["info"].GlobalVariables["mysql-max_connections"])
	require.Len(t, results["info"].RuntimeServers, 3)

	// The new weight is live.
	require.Equal(t, [][]string{{"7", "ansible"}}, p.rows(t, fmt.Sprintf(
		"SELECT weight, comment FROM runtime_mysql_servers WHERE hostgroup_id = 20 AND port = %d", replica)))
	// The ProxySQL check_type combination is live.
	require.Equal(t, [][]string{{"read_only|innodb_read_only", "ansible"}},
		p.rows(t, "SELECT check_type, comment FROM runtime_mysql_replication_hostgroups WHERE writer_hostgroup = 10"))
	// The scheduler job is live: it runs the script with its arguments.
	require.Equal(t, [][]string{{"1", "100", script, "scheduled", schedOut, "ansible"}}, p.rows(t,
		"SELECT active, interval_ms, filename, arg1, arg2, comment FROM runtime_scheduler"))
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(schedOut)
		return err == nil && strings.HasPrefix(string(b), "scheduled\n")
	}, time.Minute, 50*time.Millisecond, "the scheduler never ran %s", script)
	// The global variable is live.
	require.Equal(t, 777, p.app.Store.Current().MaxConnections)
	// The users were saved to disk: ans_user as ProxySQL's pair of rows.
	require.Equal(t, [][]string{{"0", "1", "admtest"}, {"1", "0", ""}}, p.rows(t,
		"SELECT backend, frontend, default_schema FROM disk.mysql_users WHERE username = 'ans_user' ORDER BY backend"))

	// ans_user logs in with its frontend password, starts in its
	// default_schema, and reaches the backends with the backend password.
	addr := p.app.Addr()
	db := openDB(t, fmt.Sprintf("ans_user:ans_front_pw@tcp(%s)/", addr))
	var schema, user string
	require.NoError(t, db.QueryRow("SELECT DATABASE(), CURRENT_USER()").Scan(&schema, &user))
	require.Equal(t, "admtest", schema)
	require.Equal(t, "ans_user@127.0.0.1", user)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	require.Equal(t, 100, n)
	// The backend password is not a frontend credential.
	bad, err := sql.Open("mysql", fmt.Sprintf("ans_user:ans_backend_pw@tcp(%s)/", addr))
	require.NoError(t, err)
	defer bad.Close()
	require.Equal(t, uint16(1045), myErr(t, bad.Ping()).Number)

	// fast_forward: app2's reads go to its default hostgroup (the writer).
	ff := openDB(t, dsn(addr, "app2", ""))
	for range 5 {
		var port int
		require.NoError(t, ff.QueryRow("SELECT @@port").Scan(&port))
		require.Equal(t, sb.Ports[0], port, "fast_forward read left the default hostgroup")
	}
	// The rule sends its read to hostgroup 10; other reads go to replicas.
	app := openDB(t, dsn(addr, "app", ""))
	var port int
	require.NoError(t, app.QueryRow("SELECT @@port AS ansible_rule").Scan(&port))
	require.Equal(t, sb.Ports[0], port)
	require.NoError(t, app.QueryRow("SELECT @@port").Scan(&port))
	require.NotEqual(t, sb.Ports[0], port)
	// stats_mysql_query_rules counts the rule's one hit.
	require.Equal(t, [][]string{{"1"}}, p.rows(t, "SELECT hits FROM stats_mysql_query_rules WHERE rule_id = 50"))
}

func splitHostPortT(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return host, port
}
