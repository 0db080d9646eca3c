package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// adminPassword is the proxies' admin password (ADMIN_PASSWORD of the script).
const adminPassword = "arch-admin"

// chain drives scripts/demo-cluster (the one implementation that starts and
// stops the load balancer, the rwproxy nodes and the group) and reads what it
// recorded.
type chain struct {
	script, sandbox string
	env             []string
	logPath         string
	state           map[string]string
}

func newChain(repo, work string, o *options) *chain {
	return &chain{
		script:  filepath.Join(repo, "scripts", "demo-cluster"),
		sandbox: filepath.Join(repo, "scripts", "sandbox"),
		env: []string{"CLUSTER_DIR=" + filepath.Join(work, "cluster"),
			"CLUSTER_BASE_PORT=" + strconv.Itoa(o.basePort),
			"MGR_BASE_PORT=" + strconv.Itoa(o.mgrBasePort),
			"MGR_GR_BASE_PORT=" + strconv.Itoa(o.mgrBasePort+10),
			"ADMIN_PASSWORD=" + adminPassword},
		logPath: filepath.Join(work, "chain.log"),
	}
}

// run runs argv with the chain's environment; output goes to the log and
// is returned.
func (c *chain) run(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); ferr == nil {
		fmt.Fprintf(f, "\n$ %s\n%s", strings.Join(argv, " "), out)
		f.Close()
	}
	if err != nil {
		return string(out), fmt.Errorf("%s: %w (log: %s)", strings.Join(argv, " "), err, c.logPath)
	}
	return string(out), nil
}

func (c *chain) demo(ctx context.Context, args ...string) (string, error) {
	return c.run(ctx, append([]string{c.script}, args...)...)
}

func (c *chain) up(ctx context.Context) error {
	if _, err := c.demo(ctx, "up"); err != nil {
		return err
	}
	return c.reload(ctx)
}

// down stops everything up started; it ignores the study's context, which
// may be cancelled already.
func (c *chain) down() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := c.demo(ctx, "down")
	return err
}

// reload re-reads the recorded state (pids change when a node restarts).
func (c *chain) reload(ctx context.Context) error {
	out, err := c.demo(ctx, "env")
	if err != nil {
		return err
	}
	c.state = ParseState(out)
	return nil
}

// ParseState reads KEY=VALUE lines (the output of `demo-cluster env`); a
// later line wins, other lines are ignored.
func ParseState(text string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k != "" && !strings.ContainsAny(k, " \t") {
			m[k] = v
		}
	}
	return m
}

func (c *chain) int(key string) int {
	n, _ := strconv.Atoi(c.state[key])
	return n
}

func (c *chain) lbAddr() string { return "127.0.0.1:" + c.state["LB_PORT"] }
func (c *chain) proxyAddr(n int) string {
	return fmt.Sprintf("127.0.0.1:%d", c.int(fmt.Sprintf("PROXY%d_PORT", n)))
}
func (c *chain) proxyPID(n int) int { return c.int(fmt.Sprintf("PROXY%d_PID", n)) }
func (c *chain) memberAddr(n int) string {
	return fmt.Sprintf("127.0.0.1:%d", c.int(fmt.Sprintf("MEMBER%d_PORT", n)))
}

// Member is one line of `scripts/sandbox mgr-status`.
type Member struct {
	N, Port, PID int
	State, Role  string
}

// ParseMembers reads `mgr-status` output: "memberN port=P ... pid=X ... state=S role=R ...".
func ParseMembers(text string) []Member {
	var ms []Member
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "member") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(f[0], "member"))
		if err != nil {
			continue
		}
		m := Member{N: n}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "port":
				m.Port, _ = strconv.Atoi(v)
			case "pid":
				m.PID, _ = strconv.Atoi(v) // "-" (not running) reads 0
			case "state":
				m.State = v
			case "role":
				m.Role = v
			}
		}
		ms = append(ms, m)
	}
	return ms
}

func (c *chain) members(ctx context.Context) ([]Member, error) {
	out, err := c.run(ctx, c.sandbox, "mgr-status")
	if err != nil {
		return nil, err
	}
	ms := ParseMembers(out)
	if len(ms) != 3 {
		return nil, fmt.Errorf("mgr-status: %d members in %q", len(ms), out)
	}
	return ms, nil
}

// primary is the member that reports itself PRIMARY (0 when none does).
func primary(ms []Member) int {
	for _, m := range ms {
		if m.Role == "PRIMARY" && m.State == "ONLINE" {
			return m.N
		}
	}
	return 0
}

func secondaries(ms []Member) []int {
	var out []int
	for _, m := range ms {
		if m.Role == "SECONDARY" && m.State == "ONLINE" {
			out = append(out, m.N)
		}
	}
	return out
}

// admin opens proxy n's admin interface (text protocol only: the admin
// refuses prepared statements).
func (c *chain) admin(n int) (*sql.DB, error) {
	dsn := fmt.Sprintf("admin:%s@tcp(127.0.0.1:%d)/?interpolateParams=true&timeout=3s",
		adminPassword, c.int(fmt.Sprintf("PROXY%d_ADMIN", n)))
	db, err := sql.Open("mysql", dsn)
	if err == nil {
		db.SetMaxOpenConns(1)
	}
	return db, err
}

// adminExec runs statements, in order, on proxy n's admin interface.
func (c *chain) adminExec(ctx context.Context, n int, stmts ...string) error {
	db, err := c.admin(n)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("proxy%d admin: %s: %w", n, s, err)
		}
	}
	return nil
}

// moduleVersion is the version of a shared module that proxy n runs
// (cluster_checksums), -1 when it cannot be read.
func (c *chain) moduleVersion(ctx context.Context, n int, module string) int {
	db, err := c.admin(n)
	if err != nil {
		return -1
	}
	defer db.Close()
	var v int
	var status string
	err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT version, status FROM cluster_checksums WHERE node = 'proxy%d' AND module = '%s'", n, module)).Scan(&v, &status)
	if err != nil || status != "applied" && status != "bootstrap" {
		return -1
	}
	return v
}

// memberDB opens member n directly as app.
func (c *chain) memberDB(n int, schema string) (*sql.DB, error) {
	return sql.Open("mysql", "app:app@tcp("+c.memberAddr(n)+")/"+schema+"?timeout=3s&readTimeout=10s")
}

// questions is member n's Questions counter (-1 when it does not answer).
func (c *chain) questions(ctx context.Context, n int) int64 {
	db, err := c.memberDB(n, "")
	if err != nil {
		return -1
	}
	defer db.Close()
	var name string
	var v int64
	if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &v); err != nil {
		return -1
	}
	return v
}

// applierQueue is member n's count of transactions waiting to be applied.
func (c *chain) applierQueue(ctx context.Context, n int) (int64, error) {
	db, err := c.memberDB(n, "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var q int64
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(COUNT_TRANSACTIONS_REMOTE_IN_APPLIER_QUEUE), 0)
		FROM performance_schema.replication_group_member_stats WHERE MEMBER_ID = @@server_uuid`).Scan(&q)
	return q, err
}

// waitApplied waits (up to 60 s) until every live secondary has applied
// what it received, so that a run does not share the CPU with the catch-up
// of the one before.
func (c *chain) waitApplied(ctx context.Context) error {
	ms, err := c.members(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for _, n := range secondaries(ms) {
		for {
			q, err := c.applierQueue(ctx, n)
			if err == nil && q == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("member%d still has %d transactions to apply after 60s (%v)", n, q, err)
			}
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
