package admin

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
)

func TestBootstrapNewDatadirThenDiskWins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	yaml := testConfig()
	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	require.Equal(t, normalized(yaml), normalized(got), "no file yet: the YAML configuration")
	require.FileExists(t, filepath.Join(dir, DiskFile))

	// The file now holds the operator tables: a changed YAML file does not
	// override them, but its restart-only settings (listen addresses) apply.
	yaml2 := testConfig()
	yaml2.Servers = yaml2.Servers[:1]
	yaml2.Listen = "127.0.0.1:7001"
	yaml2.Admin.Listen = "127.0.0.1:7002"
	yaml2.MaxConnections = 99
	got, err = Bootstrap(dir, yaml2, false)
	require.NoError(t, err)
	require.Len(t, got.Servers, 3, "servers from disk")
	require.Equal(t, 4096, got.MaxConnections, "variables from disk")
	require.Equal(t, "127.0.0.1:7001", got.Listen, "listen from YAML")
	require.Equal(t, "127.0.0.1:7002", got.Admin.Listen, "admin listen from YAML")
}

// bootstrappedEngine bootstraps a disk file in a temporary datadir from
// testConfig and starts an engine on it.
func bootstrappedEngine(t *testing.T) (yaml *config.Config, dir string, e *engine, rt *fakeRuntime) {
	t.Helper()
	yaml, dir = testConfig(), t.TempDir()
	_, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	cfg := yaml.Clone()
	cfg.Admin.Datadir = dir
	e, rt = newTestEngine(t, cfg)
	return yaml, dir, e, rt
}

func TestSaveToDiskThenBootstrap(t *testing.T) {
	yaml, dir, e, rt := bootstrappedEngine(t)

	exec(t, e, "UPDATE mysql_servers SET weight=4 WHERE port=3308")
	exec(t, e, "INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('bob', 'pw', 20)")
	exec(t, e, "INSERT INTO mysql_query_rules (rule_id, active, match_digest, destination_hostgroup, apply) VALUES (7, 1, 'marker', 10, 1)")
	exec(t, e, "SET mysql-max_connections = 77")
	exec(t, e, "SET admin-admin_credentials = 'root:toor'")

	// Only the saved module reaches the disk.
	exec(t, e, "SAVE MYSQL SERVERS TO DISK")
	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	require.Equal(t, 4, got.Servers[2].Weight)
	require.Len(t, got.Users, 2)

	for _, m := range modules {
		exec(t, e, "SAVE "+m.name+" TO DISK")
		exec(t, e, "LOAD "+m.name+" TO RUNTIME")
	}
	require.NoError(t, e.Close())
	got, err = Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	want := rt.Config().Clone()
	want.Admin.Datadir = yaml.Admin.Datadir
	// admin.* is node-local: the file's, never the saved credentials.
	want.Admin.Username, want.Admin.Password = yaml.Admin.Username, yaml.Admin.Password
	require.Equal(t, normalized(want), normalized(got))
	require.Equal(t, 77, got.MaxConnections)
	require.Equal(t, yaml.Admin.Username, got.Admin.Username, "admin.* comes from the file, not from rwproxy.db")
	require.Equal(t, "bob", got.Users[2].Username)
	require.Equal(t, 7, got.QueryRules[1].RuleID)

	// --initial: the YAML file again, the old file kept aside.
	got, err = Bootstrap(dir, yaml, true)
	require.NoError(t, err)
	require.Equal(t, normalized(yaml), normalized(got))
	baks, _ := filepath.Glob(filepath.Join(dir, DiskFile+".bak-*"))
	require.Len(t, baks, 1)
	got, err = Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	require.Equal(t, normalized(yaml), normalized(got), "--initial rewrote the disk from the YAML file")
}

func TestLoadFromDisk(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	exec(t, e, "UPDATE mysql_servers SET weight=3")
	exec(t, e, "SET mysql-max_connections = 55")
	exec(t, e, "SAVE MYSQL SERVERS TO DISK")
	exec(t, e, "SAVE MYSQL VARIABLES TO DISK")
	exec(t, e, "DELETE FROM mysql_servers")
	exec(t, e, "SET mysql-max_connections = 56")
	exec(t, e, "SET admin-admin_credentials = 'x:y'")
	exec(t, e, "LOAD MYSQL SERVERS FROM DISK")
	require.Equal(t, []string{"3", "3", "3"}, firstColumn(t, e, "SELECT weight FROM mysql_servers"))
	exec(t, e, "SET mysql-interfaces = '127.0.0.1:9'")
	exec(t, e, "LOAD MYSQL VARIABLES TO MEMORY")
	require.Equal(t, "127.0.0.1:0", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-interfaces'"),
		"restart-only variables read the running value")
	require.Equal(t, "55", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-max_connections'"))
	require.Equal(t, "x:y", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='admin-admin_credentials'"),
		"MYSQL VARIABLES leaves admin-* alone")
	require.Equal(t, "3", one(t, e, "SELECT count(*) FROM disk.mysql_servers WHERE weight = 3"))
}

func TestBootstrapReportsInvalidDisk(t *testing.T) {
	yaml := testConfig()
	dir := t.TempDir()
	cfg := yaml.Clone()
	cfg.Admin.Datadir = dir
	e, _ := newTestEngine(t, cfg)
	// MEMORY may hold what would never load; saving it is allowed (as in
	// ProxySQL), starting from it is refused with the reason.
	exec(t, e, "UPDATE mysql_users SET default_hostgroup = 99 WHERE username = 'app'")
	exec(t, e, "SAVE MYSQL USERS TO DISK")
	require.NoError(t, e.Close())
	_, err := Bootstrap(dir, yaml, false)
	require.ErrorContains(t, err, "mysql_users (username='app', backend=1) default_hostgroup: hostgroup 99 has no servers")
	require.ErrorContains(t, err, "--initial")
	got, err := Bootstrap(dir, yaml, true)
	require.NoError(t, err)
	require.Equal(t, 10, got.Users[0].DefaultHostgroup)
}

// bigConfig has n servers whose comments are all tag: large enough that a
// save spills pages to the database file before it commits.
func bigConfig(n int, tag string) *config.Config {
	c := testConfig()
	c.Servers = c.Servers[:1]
	for i := range n {
		c.Servers = append(c.Servers, config.Server{Hostgroup: 20, Host: fmt.Sprintf("replica-%04d.example", i), Port: 3306,
			Comment: strings.Repeat(tag, 300)})
	}
	c.FillDefaults()
	return c
}

// serversTag returns the tag of a bigConfig's servers, requiring them to
// be all of one configuration.
func serversTag(t *testing.T, c *config.Config, n int) string {
	t.Helper()
	require.Len(t, c.Servers, n+1)
	tag := c.Servers[1].Comment[:1]
	for _, s := range c.Servers[1:] {
		require.Equal(t, strings.Repeat(tag, 300), s.Comment, "servers of one configuration only")
	}
	return tag
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, de := range ents {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, de.Name()), b, 0o600))
	}
	return dst
}

// TestSaveIsOneTransaction freezes the datadir in the middle of a SAVE
// (pages already written to the database file, the commit not done) and
// checks that the frozen copy still starts with the old configuration,
// and the finished file with the new one.
func TestSaveIsOneTransaction(t *testing.T) {
	const n = 2000
	a, b := bigConfig(n, "A"), bigConfig(n, "B")
	dir := t.TempDir()
	_, err := Bootstrap(dir, a, false)
	require.NoError(t, err)
	cfg := a.Clone()
	cfg.Admin.Datadir = dir
	e, _ := newTestEngine(t, cfg, zap.NewNop())
	require.NoError(t, e.internalExec(context.Background(), "PRAGMA disk.cache_size = 2"))
	require.NoError(t, setMemory(e, modules[0], b))

	pre, err := os.ReadFile(filepath.Join(dir, DiskFile))
	require.NoError(t, err)
	var frozen string
	e.beforeCommit = func() {
		require.FileExists(t, filepath.Join(dir, DiskFile+"-journal"), "a transaction is open")
		frozen = copyDir(t, dir)
	}
	exec(t, e, "SAVE MYSQL SERVERS TO DISK")
	require.NoFileExists(t, filepath.Join(dir, DiskFile+"-journal"))

	mid, err := os.ReadFile(filepath.Join(frozen, DiskFile))
	require.NoError(t, err)
	require.NotEqual(t, pre, mid, "the save had already written pages into the database file")
	got, err := Bootstrap(frozen, a, false)
	require.NoError(t, err)
	require.Equal(t, "A", serversTag(t, got, n), "interrupted save: the old configuration")
	requireIntegrity(t, filepath.Join(frozen, DiskFile))
	got, err = Bootstrap(dir, a, false)
	require.NoError(t, err)
	require.Equal(t, "B", serversTag(t, got, n), "finished save: the new configuration")
}

// TestSaveKilledMidway kills a process (this test binary re-executed)
// inside SAVE ... TO DISK, then at random moments of repeated saves, and
// checks that the file left behind starts with one whole configuration.
func TestSaveKilledMidway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	a := bigConfig(saverServers, "A")
	dir := t.TempDir()
	_, err := Bootstrap(dir, a, false)
	require.NoError(t, err)
	pre, err := os.ReadFile(filepath.Join(dir, DiskFile))
	require.NoError(t, err)

	// Killed while blocked just before COMMIT, pages already in the file.
	out := startSaver(t, dir, "block")
	waitLine(t, out, "READY")
	killSaver(t)
	require.FileExists(t, filepath.Join(dir, DiskFile+"-journal"), "the kill left a hot journal")
	mid, err := os.ReadFile(filepath.Join(dir, DiskFile))
	require.NoError(t, err)
	require.NotEqual(t, pre, mid, "the save had already written pages into the database file")
	got, err := Bootstrap(dir, a, false)
	require.NoError(t, err)
	require.Equal(t, "A", serversTag(t, got, saverServers))
	requireIntegrity(t, filepath.Join(dir, DiskFile))

	// Killed at random moments while saving A and B alternately.
	seen := map[string]int{}
	for i := range 6 {
		out := startSaver(t, dir, "loop")
		waitLine(t, out, fmt.Sprintf("SAVED %d", i%3))              // some rounds after a save of A, some of B
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond) // then a random point of the loop
		killSaver(t)
		got, err := Bootstrap(dir, a, false)
		require.NoError(t, err, "round %d", i)
		seen[serversTag(t, got, saverServers)]++
		requireIntegrity(t, filepath.Join(dir, DiskFile))
	}
	t.Logf("configurations found after the kills: %v", seen)
}

func requireIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var res string
	require.NoError(t, db.QueryRow("PRAGMA integrity_check").Scan(&res))
	require.Equal(t, "ok", res)
}

// saverServers sizes the configurations the child saves: with a 2-page
// cache, enough to spill pages into the file before the commit.
const saverServers = 300

var saver *osexec.Cmd

// startSaver runs TestSaverProcess in a child process on dir.
func startSaver(t *testing.T, dir, mode string) *bufio.Reader {
	t.Helper()
	cmd := osexec.Command(os.Args[0], "-test.run=^TestSaverProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "RWPROXY_ADMIN_SAVER="+mode, "RWPROXY_ADMIN_SAVER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	saver = cmd
	t.Cleanup(func() {
		if saver != nil {
			_ = saver.Process.Kill()
			_ = saver.Wait()
		}
	})
	return bufio.NewReader(stdout)
}

func killSaver(t *testing.T) {
	t.Helper()
	require.NoError(t, saver.Process.Signal(syscall.SIGKILL))
	_ = saver.Wait()
	saver = nil
}

// waitLine reads the child's output until a line starting with prefix.
func waitLine(t *testing.T, r *bufio.Reader, prefix string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if strings.HasPrefix(line, prefix) {
				done <- nil
				_, _ = io.Copy(io.Discard, r)
				return
			}
			if err != nil {
				done <- fmt.Errorf("saver ended before %q: %w", prefix, err)
				return
			}
		}
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("saver did not print %q", prefix)
	}
}

// TestSaverProcess is the child of TestSaveKilledMidway; it does nothing
// in a normal run.
func TestSaverProcess(t *testing.T) {
	mode, dir := os.Getenv("RWPROXY_ADMIN_SAVER"), os.Getenv("RWPROXY_ADMIN_SAVER_DIR")
	if mode == "" {
		t.Skip("helper process for TestSaveKilledMidway")
	}
	a, b := bigConfig(saverServers, "A"), bigConfig(saverServers, "B")
	a.Admin.Datadir = dir
	rt := &fakeRuntime{cfg: a}
	ctx := context.Background()
	e, err := newEngine(ctx, engineOptions{Runtime: rt, Datadir: dir, Log: zap.NewNop()})
	require.NoError(t, err)
	require.NoError(t, e.internalExec(ctx, "PRAGMA disk.cache_size = 2"))
	servers := modules[0]
	if mode == "block" {
		require.NoError(t, setMemory(e, servers, b))
		e.beforeCommit = func() {
			fmt.Println("READY")
			select {} // wait to be killed
		}
		_, _ = e.Exec(ctx, testSession, "SAVE MYSQL SERVERS TO DISK")
		return
	}
	for i := 0; ; i++ {
		next := a
		if i%2 == 1 {
			next = b
		}
		require.NoError(t, setMemory(e, servers, next))
		_, err := e.Exec(ctx, testSession, "SAVE MYSQL SERVERS TO DISK")
		require.NoError(t, err)
		fmt.Println("SAVED", i, time.Now().Format("15:04:05.000"))
	}
}

// setMemory replaces a module's MEMORY tables with cfg's values.
func setMemory(e *engine, m *module, cfg *config.Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	return e.writeMemory(context.Background(), m, cfg)
}

func TestSaveConfigForOtherWriters(t *testing.T) {
	dir := t.TempDir()
	yaml := testConfig()
	_, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	peer := testConfig()
	peer.Servers[1].Weight = 9
	peer.Users = peer.Users[:1]
	peer.Listen = "10.0.0.1:6033" // a peer's node-local setting: never used here
	require.NoError(t, SaveConfig(dir, peer))
	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	require.Equal(t, 9, got.Servers[1].Weight)
	require.Len(t, got.Users, 1)
	require.Equal(t, yaml.Listen, got.Listen)
	// A fresh datadir works too.
	fresh := filepath.Join(t.TempDir(), "new")
	require.NoError(t, SaveConfig(fresh, peer))
	got, err = Bootstrap(fresh, yaml, false)
	require.NoError(t, err)
	require.Equal(t, 9, got.Servers[1].Weight)
}

// TestQueryTimeoutColumns: mysql_users.query_timeout_ms, mysql_query_rules.timeout
// and mysql-default_query_timeout reach the running configuration, the
// DISK layer and back; negative values are refused at the table.
func TestQueryTimeoutColumns(t *testing.T) {
	yaml, dir, e, rt := bootstrappedEngine(t)

	exec(t, e, "UPDATE mysql_users SET query_timeout_ms=500 WHERE username='app'")
	exec(t, e, "INSERT INTO mysql_query_rules (rule_id, active, match_digest, timeout) VALUES (9, 1, '^SELECT SLEEP', 1200)")
	exec(t, e, "INSERT INTO mysql_query_rules (rule_id, active, match_digest, timeout) VALUES (10, 1, '^SHOW', 0)")
	exec(t, e, "SET mysql-default_query_timeout = 4000")
	execErr(t, e, "UPDATE mysql_users SET query_timeout_ms=-1 WHERE username='app'", 3819)
	execErr(t, e, "UPDATE mysql_query_rules SET timeout=-5 WHERE rule_id=9", 3819)
	for _, m := range []string{"MYSQL USERS", "MYSQL QUERY RULES", "MYSQL VARIABLES"} {
		exec(t, e, "LOAD "+m+" TO RUNTIME")
		exec(t, e, "SAVE "+m+" TO DISK")
	}
	got := rt.Config()
	require.Equal(t, 500*time.Millisecond, got.Users[0].QueryTimeout)
	require.Zero(t, got.Users[1].QueryTimeout)
	require.Equal(t, 1200*time.Millisecond, got.QueryRules[1].Timeout)
	require.Zero(t, got.QueryRules[2].Timeout)
	require.Equal(t, 4*time.Second, got.QueryTimeout)
	require.Equal(t, []string{"NULL", "1200", "NULL"}, firstColumn(t, e, "SELECT timeout FROM runtime_mysql_query_rules ORDER BY rule_id"),
		"0 shows as NULL, as ProxySQL's unset columns")

	require.NoError(t, e.Close())
	disk, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	require.Equal(t, 500*time.Millisecond, disk.Users[0].QueryTimeout)
	require.Equal(t, 1200*time.Millisecond, disk.QueryRules[1].Timeout)
	require.Equal(t, 4*time.Second, disk.QueryTimeout)
}

// A disk file written before columns were added (use_tls, require_tls,
// backend_password, query_timeout_ms, timeout) still loads: the columns are
// added with their defaults and the saved rows keep their values.
func TestBootstrapUpgradesOlderDiskFile(t *testing.T) {
	dir := t.TempDir()
	yaml := testConfig()
	olderDiskFile(t, dir, yaml,
		"UPDATE mysql_servers SET weight = 7",
		"ALTER TABLE mysql_servers DROP COLUMN use_tls",
		"ALTER TABLE mysql_users DROP COLUMN query_timeout_ms",
		"ALTER TABLE mysql_users DROP COLUMN require_tls",
		"ALTER TABLE mysql_query_rules DROP COLUMN timeout",
		"ALTER TABLE mysql_query_rules DROP COLUMN idempotent",
	)

	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err, "an older disk file is upgraded, not refused")
	require.Len(t, got.Servers, len(yaml.Servers))
	for _, s := range got.Servers {
		require.Equal(t, 7, s.Weight, "saved rows keep their values")
		require.False(t, s.UseTLS, "added columns take their defaults")
	}
	require.Zero(t, got.Users[0].QueryTimeout)

	cfg := yaml.Clone()
	cfg.Admin.Datadir = dir
	e, _ := newTestEngine(t, cfg)
	exec(t, e, "UPDATE mysql_users SET query_timeout_ms = 1500")
	exec(t, e, "SAVE MYSQL USERS TO DISK")
	require.Equal(t, "1500", one(t, e, "SELECT DISTINCT query_timeout_ms FROM disk.mysql_users"))
}

// A disk file of a version that accepted empty passwords keeps loading:
// the allow_empty_password column is added set for the users that have
// an empty password, and only for them. A new empty password without the
// flag is refused at LOAD.
func TestEmptyPasswordUpgradeAndRefusal(t *testing.T) {
	dir := t.TempDir()
	yaml := testConfig()
	yaml.Users[1].Password, yaml.Users[1].AllowEmptyPassword = "", true
	olderDiskFile(t, dir, yaml, "ALTER TABLE mysql_users DROP COLUMN allow_empty_password")

	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err, "an older disk file with an empty password still loads")
	require.False(t, got.Users[0].AllowEmptyPassword)
	require.True(t, got.Users[1].AllowEmptyPassword)

	cfg := got.Clone()
	cfg.Admin.Datadir = dir
	e, rt := newTestEngine(t, cfg)
	exec(t, e, "UPDATE mysql_users SET password = '' WHERE username = 'app'")
	msg := execErr(t, e, "LOAD MYSQL USERS TO RUNTIME", 1105)
	require.Contains(t, msg, "allow_empty_password")
	require.Equal(t, "app-secret", rt.Config().Users[0].Password)
	exec(t, e, "UPDATE mysql_users SET allow_empty_password = 1 WHERE username = 'app'")
	exec(t, e, "LOAD MYSQL USERS TO RUNTIME")
	require.Empty(t, rt.Config().Users[0].Password)
}

// TestIdempotentColumn: mysql_query_rules.idempotent reaches the running
// configuration and the DISK layer; values other than 0/1 are refused.
func TestIdempotentColumn(t *testing.T) {
	yaml, dir, e, rt := bootstrappedEngine(t)
	exec(t, e, "INSERT INTO mysql_query_rules (rule_id, active, match_digest, idempotent) VALUES (9, 1, '^UPDATE kv SET', 1)")
	execErr(t, e, "UPDATE mysql_query_rules SET idempotent=2 WHERE rule_id=9", 3819)
	exec(t, e, "LOAD MYSQL QUERY RULES TO RUNTIME")
	exec(t, e, "SAVE MYSQL QUERY RULES TO DISK")
	got := rt.Config()
	require.True(t, got.QueryRules[len(got.QueryRules)-1].Idempotent)
	require.False(t, got.QueryRules[0].Idempotent)
	require.NoError(t, e.Close())
	disk, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	require.True(t, disk.QueryRules[len(disk.QueryRules)-1].Idempotent)
}

// olderDiskFile writes yaml's disk file into dir, then runs stmts on it:
// the shape a file of an earlier version had (columns dropped, tables of
// another shape). The caller's next Bootstrap must upgrade it.
func olderDiskFile(t *testing.T, dir string, yaml *config.Config, stmts ...string) {
	t.Helper()
	_, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", filepath.Join(dir, DiskFile))
	require.NoError(t, err)
	for _, q := range stmts {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())
}
