package ops

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newPIDs lists the pids of the processes that took over, in order, from
// the proxy's log ("new_pid").
func (p *proxy) newPIDs() []int {
	var out []int
	for _, m := range regexp.MustCompile(`"msg":"upgrade: phase done[^\n]*"new_pid":(\d+)`).FindAllStringSubmatch(p.logText(), -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// pauses lists the longest client pause of each completed upgrade (from
// the proxy's log: a session's wait between leaving the old process and
// being served by the new one).
func (p *proxy) pauses() []string {
	var out []string
	for _, m := range regexp.MustCompile(`"msg":"upgrade: phase done[^\n]*"pause":([^,}]+)`).FindAllStringSubmatch(p.logText(), -1) {
		out = append(out, m[1])
	}
	return out
}

// upgrade runs `rwproxy upgrade` against p and returns its output.
func (p *proxy) upgrade(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "upgrade", "--config", p.cfg, "--timeout", "90s")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// upgradeOnce runs the first upgrade of p (the process it started is
// killed when the test ends), waits for the old process to exit and
// returns the new process's pid.
func upgradeOnce(t *testing.T, p *proxy) int {
	t.Helper()
	out, err := p.upgrade(t)
	require.NoError(t, err, out)
	pids := p.newPIDs()
	require.Len(t, pids, 1)
	killLater(t, pids[0])
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the old process did not exit")
	}
	return pids[0]
}

// killLater ends a process the test's upgrades started (not a child of
// the test: the old process started it) when the test ends.
func killLater(t *testing.T, pid int) {
	t.Cleanup(func() {
		if pr, err := os.FindProcess(pid); err == nil {
			_ = pr.Signal(syscall.SIGKILL)
		}
	})
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// upgradeWorkers run transactions and prepared statements on one
// dedicated connection each until stopped; a failed statement or a lost
// connection is an error.
type upgradeWorkers struct {
	ops, errs atomic.Int64
	mu        sync.Mutex
	firstErr  error
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

func startUpgradeWorkers(t *testing.T, addr string, n int) *upgradeWorkers {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &upgradeWorkers{stop: cancel}
	for i := 0; i < n; i++ {
		db := openDB(t, addr)
		c, err := db.Conn(context.Background())
		require.NoError(t, err)
		sel, err := c.PrepareContext(context.Background(), "SELECT c FROM app.upgrade WHERE id = ?")
		require.NoError(t, err)
		upd, err := c.PrepareContext(context.Background(), "UPDATE app.upgrade SET c = c + 1 WHERE id = ?")
		require.NoError(t, err)
		w.wg.Go(func() {
			defer c.Close()
			for k := 0; ctx.Err() == nil; k++ {
				w.record(w.one(c, sel, upd, i*100+k%100))
			}
		})
	}
	return w
}

func (w *upgradeWorkers) one(c *sql.Conn, sel, upd *sql.Stmt, id int) error {
	ctx := context.Background()
	var v int
	if err := sel.QueryRowContext(ctx, id).Scan(&v); err != nil {
		return fmt.Errorf("select: %w", err)
	}
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := upd.ExecContext(ctx, id); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if err := sel.QueryRowContext(ctx, id).Scan(&v); err != nil {
		return fmt.Errorf("select in txn: %w", err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *upgradeWorkers) record(err error) {
	w.ops.Add(1)
	if err == nil {
		return
	}
	w.errs.Add(1)
	w.mu.Lock()
	if w.firstErr == nil {
		w.firstErr = err
	}
	w.mu.Unlock()
}

func prepareUpgradeTable(t *testing.T) {
	t.Helper()
	direct, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/app", sb.Addr(1)))
	require.NoError(t, err)
	defer direct.Close()
	_, err = direct.Exec("CREATE TABLE IF NOT EXISTS app.upgrade (id INT PRIMARY KEY, c INT NOT NULL)")
	require.NoError(t, err)
	_, err = direct.Exec("DELETE FROM app.upgrade")
	require.NoError(t, err)
	for i := 0; i < 6400; i += 400 {
		q := "INSERT INTO app.upgrade VALUES "
		for j := i; j < i+400; j++ {
			if j > i {
				q += ","
			}
			q += fmt.Sprintf("(%d,0)", j)
		}
		_, err = direct.Exec(q)
		require.NoError(t, err)
	}
}

// waitOps waits until the workers ran n more operations.
func (w *upgradeWorkers) waitOps(t *testing.T, n int64) {
	t.Helper()
	target := w.ops.Load() + n
	require.Eventually(t, func() bool { return w.ops.Load() >= target }, 60*time.Second, 10*time.Millisecond)
}

// TestUpgradeUnderLoad: eight clients run transactions and prepared
// statements, each on one connection, through three successive upgrades
// (`rwproxy upgrade`; each new process takes over from the previous
// one): no statement fails and no connection is lost; each old process
// exits; a new client reaches the last process on the same port.
func TestUpgradeUnderLoad(t *testing.T) {
	prepareUpgradeTable(t)
	p := startProxy(t, 1, 1)
	w := startUpgradeWorkers(t, p.addr, 8)
	defer w.stop()
	w.waitOps(t, 200)
	prev := p.cmd.Process.Pid
	for i := 1; i <= 3; i++ {
		out, err := p.upgrade(t)
		require.NoError(t, err, "upgrade %d: %s", i, out)
		pids := p.newPIDs()
		require.Len(t, pids, i)
		killLater(t, pids[i-1])
		require.Eventually(t, func() bool { return !alive(prev) || prev == p.cmd.Process.Pid && processExited(p) },
			30*time.Second, 20*time.Millisecond, "the old process %d exits", prev)
		prev = pids[i-1]
		w.waitOps(t, 200)
	}
	// A client of the last process gets a connection id of its own: the
	// eight adopted sessions and it are nine distinct sessions.
	fresh := openDB(t, p.addr)
	fresh.SetMaxOpenConns(1)
	require.NoError(t, fresh.Ping())
	adm := adminDB(t, p, "admin")
	require.Equal(t, "9", value(t, adm, "SELECT COUNT(DISTINCT SessionID) FROM stats_mysql_processlist"))
	w.stop()
	w.wg.Wait()
	require.Zero(t, w.errs.Load(), "first error: %v", w.firstErr)
	require.Contains(t, p.logText(), `"msg":"upgrade: phase done: every session handed over"`)
	// The last process reports the upgrades (its own counters plus the
	// ones each old process passed on): 3 completed, 8 sessions each.
	metrics := httpGet(t, "http://"+p.http+"/metrics")
	require.Contains(t, metrics, `rwproxy_upgrades_total{result="completed"} 3`)
	require.Contains(t, metrics, `rwproxy_upgrade_sessions_total{outcome="handed_over"} 24`)
	require.Contains(t, metrics, `rwproxy_upgrade_sessions_total{outcome="failed"} 0`)
	require.Contains(t, metrics, `rwproxy_upgrade_sessions_total{outcome="taken_back"} 0`)
	require.Len(t, p.pauses(), 3)
	t.Logf("longest client pause of each upgrade: %v", p.pauses())
	// A new client reaches the last process.
	db := openDB(t, p.addr)
	var one int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	require.True(t, alive(prev))
	require.NoError(t, syscall.Kill(prev, syscall.SIGTERM))
}

// processExited reports whether the proxy the test started has exited.
func processExited(p *proxy) bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// TestUpgradeFailedNewBinary: a new process that dies during the
// handover (RWPROXYTEST_TAKEOVER_FAIL_AT, at each phase: before ready,
// after receiving its first session, after receiving them all at done)
// leaves the old one serving every client with no error: the sessions the
// dead process had received are taken back. A session inside a
// transaction stays on its backend thread, its transaction open, and
// commits in the old process; a later upgrade succeeds.
func TestUpgradeFailedNewBinary(t *testing.T) {
	prepareUpgradeTable(t)
	p := newProxy(t, "")
	p.write(t, p.render(1, 1))
	// No commit before done (a statement slower than the default 250 ms
	// on a loaded machine would commit the sessions parked meanwhile, and
	// those are the new process's).
	p.start(t, []string{"RWPROXYTEST_UPGRADE_COMMIT_WAIT=10m"})
	w := startUpgradeWorkers(t, p.addr, 4)
	defer w.stop()
	ctx := context.Background()
	tc, err := openDB(t, p.addr).Conn(ctx)
	require.NoError(t, err)
	defer tc.Close()
	one := func(q string) string {
		t.Helper()
		var v sql.NullString
		require.NoError(t, tc.QueryRowContext(ctx, q).Scan(&v), q)
		return v.String
	}
	w.waitOps(t, 100)
	phases := []string{"hello", "config", "listeners", "ready", "session", "done"}
	for _, phase := range phases {
		// A session in a transaction (a row the workers never touch).
		_, err := tc.ExecContext(ctx, "BEGIN")
		require.NoError(t, err)
		_, err = tc.ExecContext(ctx, "UPDATE app.upgrade SET c = c + 1 WHERE id = 6000")
		require.NoError(t, err)
		thread := one("SELECT CONNECTION_ID()")
		out, err := p.upgrade(t, "RWPROXYTEST_TAKEOVER_FAIL_AT="+phase)
		require.Error(t, err, "phase %s: %s", phase, out)
		require.False(t, processExited(p), "the old process serves on after a failure at %s", phase)
		require.Equal(t, thread, one("SELECT CONNECTION_ID()"), "phase %s: the same backend connection", phase)
		require.Equal(t, "1", one("SELECT @@in_transaction"), "phase %s: the transaction is still open", phase)
		_, err = tc.ExecContext(ctx, "COMMIT")
		require.NoError(t, err, phase)
		w.waitOps(t, 100)
	}
	require.Zero(t, w.errs.Load(), "first error: %v", w.firstErr)
	adm := adminDB(t, p, "admin")
	back, err := strconv.Atoi(value(t, adm,
		"SELECT variable_value FROM stats_mysql_global WHERE variable_name='Upgrade_Sessions_Taken_Back'"))
	require.NoError(t, err)
	// session: the first one received; done: all five.
	require.Equal(t, 6, back, "the sessions received by a dead new process were taken back")
	require.Equal(t, "0", value(t, adm,
		"SELECT variable_value FROM stats_mysql_global WHERE variable_name='Upgrade_Sessions_Failed'"))
	direct, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/app", sb.Addr(1)))
	require.NoError(t, err)
	defer direct.Close()
	var c int
	require.NoError(t, direct.QueryRow("SELECT c FROM app.upgrade WHERE id = 6000").Scan(&c))
	require.Equal(t, len(phases), c, "each transaction committed once, in the old process")
	out, err := p.upgrade(t)
	require.NoError(t, err, out)
	pids := p.newPIDs()
	require.Len(t, pids, 1)
	killLater(t, pids[0])
	w.waitOps(t, 100)
	w.stop()
	w.wg.Wait()
	require.Zero(t, w.errs.Load(), "first error: %v", w.firstErr)
}

// TestUpgradeKeepsSessionState: a session with an open transaction, a
// user variable, a temporary table, a binary prepared statement and an
// SQL PREPARE continues in the new process with all of them: the
// transaction commits there, on the same backend connection.
func TestUpgradeKeepsSessionState(t *testing.T) {
	prepareUpgradeTable(t)
	p := startProxy(t, 1, 1)
	ctx := context.Background()
	c, err := openDB(t, p.addr).Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := c.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	one := func(q string, args ...any) string {
		t.Helper()
		var v sql.NullString
		require.NoError(t, c.QueryRowContext(ctx, q, args...).Scan(&v), q)
		return v.String
	}
	exec("BEGIN")
	exec("UPDATE app.upgrade SET c = 1000 WHERE id = 1")
	exec("SET @who = 'before'")
	exec("CREATE TEMPORARY TABLE app.tmp_up (a INT)")
	exec("INSERT INTO app.tmp_up VALUES (5)")
	exec("PREPARE sq FROM 'SELECT c FROM app.upgrade WHERE id = ?'")
	st, err := c.PrepareContext(ctx, "SELECT c + ? FROM app.upgrade WHERE id = 1")
	require.NoError(t, err)
	thread := one("SELECT CONNECTION_ID()")

	newPID := upgradeOnce(t, p)

	require.Equal(t, thread, one("SELECT CONNECTION_ID()"), "the same backend connection")
	require.Equal(t, "before", one("SELECT @who"))
	require.Equal(t, "5", one("SELECT a FROM app.tmp_up"))
	require.Equal(t, "1000", one("SELECT c FROM app.upgrade WHERE id = 1"), "the transaction's write is visible")
	var v int
	require.NoError(t, st.QueryRowContext(ctx, 1).Scan(&v))
	require.Equal(t, 1001, v, "the binary prepared statement")
	exec("SET @id = 1")
	require.Equal(t, "1000", one("EXECUTE sq USING @id"), "the SQL prepared statement")
	exec("COMMIT")
	direct, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/app", sb.Addr(1)))
	require.NoError(t, err)
	defer direct.Close()
	var got int
	require.NoError(t, direct.QueryRow("SELECT c FROM app.upgrade WHERE id = 1").Scan(&got))
	require.Equal(t, 1000, got, "committed in the new process")
	require.NoError(t, syscall.Kill(newPID, syscall.SIGTERM))
}

// TestUpgradeMariadbCLI: the mariadb command-line client, in the middle
// of a transaction with a user variable, a temporary table and an SQL
// prepared statement, goes on after an upgrade as if nothing happened.
func TestUpgradeMariadbCLI(t *testing.T) {
	cli, err := exec.LookPath("mariadb")
	require.NoError(t, err, "the mariadb client is not installed")
	prepareUpgradeTable(t)
	p := startProxy(t, 1, 1)
	host, port, _ := strings.Cut(p.addr, ":")
	cmd := exec.Command(cli, "--skip-ssl", "--unbuffered", "--batch", "--skip-column-names", "-h", host, "-P", port,
		"-uapp", "-papp", "app")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	send := func(s string) {
		_, err := io.WriteString(stdin, s+"\n")
		require.NoError(t, err)
	}
	send("BEGIN; UPDATE app.upgrade SET c = 2000 WHERE id = 2; SET @who = 'cli';")
	send("CREATE TEMPORARY TABLE app.tmp_cli (a INT); INSERT INTO app.tmp_cli VALUES (9);")
	send("PREPARE q FROM 'SELECT c FROM app.upgrade WHERE id = ?'; SELECT 'mark-before';")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "mark-before") }, 30*time.Second,
		20*time.Millisecond, "the CLI ran the first statements: %s", out.String())

	newPID := upgradeOnce(t, p)

	send("SELECT concat('who=', @who); SELECT concat('tmp=', a) FROM app.tmp_cli;")
	send("SET @id = 2; EXECUTE q USING @id; COMMIT; SELECT 'mark-after';")
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait(), out.String())
	got := out.String()
	require.Contains(t, got, "who=cli")
	require.Contains(t, got, "tmp=9")
	require.Contains(t, got, "2000")
	require.Contains(t, got, "mark-after")
	require.NotContains(t, got, "ERROR")
	require.NoError(t, syscall.Kill(newPID, syscall.SIGTERM))
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
