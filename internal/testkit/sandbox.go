package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rwproxy/rwproxy/internal/repo"
)

// sandboxCmdTimeout bounds every scripts/sandbox invocation. The script bounds its own
// waits (SANDBOX_TIMEOUT, 60 s each); this is the backstop if it hangs anyway.
const sandboxCmdTimeout = 5 * time.Minute

// Sandbox is a running MariaDB topology started by scripts/sandbox: node 1 is the
// primary, nodes 2 and 3 replicate from it with GTID and are read_only. Users and
// passwords: app/app, app2/app2, monitor/monitor, ronly/ronly, repl/repl.
type Sandbox struct {
	Dir      string // SANDBOX_DIR: datadirs, sockets, logs
	BasePort int    // SANDBOX_BASE_PORT
	Ports    []int  // node1..3: BasePort, BasePort+1, BasePort+2

	script string // absolute path of scripts/sandbox
}

// StartSandbox runs `scripts/sandbox up` in a new temporary directory with nodes on
// basePort, basePort+1 and basePort+2. The repository is found by walking up from
// the working directory to go.mod. Call Stop when done (t.Cleanup). If `up` fails,
// whatever it started is stopped and the error carries the script's output.
func StartSandbox(basePort int) (*Sandbox, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rwproxy-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("sandbox temp dir: %w", err)
	}
	s := &Sandbox{
		Dir:      dir,
		BasePort: basePort,
		Ports:    []int{basePort, basePort + 1, basePort + 2},
		script:   filepath.Join(root, "scripts", "sandbox"),
	}
	if _, err := s.Run("up"); err != nil {
		if _, stopErr := s.Run("down"); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Stop runs `sandbox down`: every node is shut down (gracefully, then TERM, then KILL)
// and Dir is removed unless KEEP=1 is set in the environment. Calling it twice is fine.
func (s *Sandbox) Stop() error {
	_, err := s.Run("down")
	return err
}

// SQL runs sql on node (1..3) as the socket superuser and returns the batch output:
// tab-separated columns, one row per line, no column names.
func (s *Sandbox) SQL(node int, sql string) (string, error) {
	if node < 1 || node > len(s.Ports) {
		return "", fmt.Errorf("sandbox: no node %d", node)
	}
	return s.Run("sql", strconv.Itoa(node), sql)
}

// Run runs any sandbox subcommand (status, env, lag, kill, start, promote, ...) with
// this sandbox's SANDBOX_DIR and SANDBOX_BASE_PORT. It returns stdout; on failure the
// error includes stderr.
func (s *Sandbox) Run(args ...string) (string, error) { return runScript(s.script, s.Env(), args...) }

// Env returns the environment entries that select this sandbox.
func (s *Sandbox) Env() []string {
	return []string{
		"SANDBOX_DIR=" + s.Dir,
		"SANDBOX_BASE_PORT=" + strconv.Itoa(s.BasePort),
	}
}

// Addr returns node's TCP address, "127.0.0.1:port".
func (s *Sandbox) Addr(node int) string {
	return "127.0.0.1:" + strconv.Itoa(s.Ports[node-1])
}

// DSN returns a go-sql-driver/mysql DSN for user (whose password is its name in the
// sandbox) on node. maxAllowedPacket=0 makes the driver use the server's 256 MiB.
func (s *Sandbox) DSN(node int, user, db string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?maxAllowedPacket=0", user, user, s.Addr(node), db)
}

// RequireTools checks that each tool is installed (PATH, then the sbin directories,
// where mariadbd lives). If one is missing the test fails under CI=true, where the
// sandbox tier must never be skipped, and is skipped otherwise.
func RequireTools(tb testing.TB, tools ...string) {
	tb.Helper()
	missing := MissingTools(tools...)
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %s; install with: scripts/sandbox install (as root)",
		strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true: the sandbox tier is required)", msg)
	}
	tb.Skipf("%s", msg)
}

func haveTool(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}
