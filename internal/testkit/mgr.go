package testkit

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rwproxy/rwproxy/internal/repo"
)

// ErrMGRUnavailable is returned (wrapped, with the script's reason) by
// StartMGR when the MySQL Group Replication sandbox cannot run on this
// machine because the package mirror refused to build its chroot: the
// script printed "SKIP mgr: <reason>" and exited with MGRSkipExitCode.
// Every other failure is an ordinary error.
var ErrMGRUnavailable = errors.New("MySQL Group Replication sandbox unavailable")

// MGRSkipExitCode is the exit code of scripts/sandbox mgr-* when the
// package mirror refuses to build the MySQL chroot.
const MGRSkipExitCode = 77

// MGR is a running MySQL Group Replication group of three members started
// by `scripts/sandbox mgr-up`: single-primary, member 1 the primary at
// start. Users: app/app (all privileges), monitor/monitor, repl/repl, all
// caching_sha2_password; root over the socket inside the chroot (SQL).
type MGR struct {
	BasePort   int   // MGR_BASE_PORT
	GRBasePort int   // MGR_GR_BASE_PORT: group communication ports
	Ports      []int // members 1..3: BasePort, BasePort+1, BasePort+2
	// Version is mysqld --version as mgr-up printed it.
	Version string

	script string
}

// StartMGR runs `scripts/sandbox mgr-up` with members on basePort,
// basePort+1 and basePort+2 and group communication ports basePort+10..+12.
// The chroot (MGR_CHROOT, default /var/cache/rwproxy/mgr-chroot) is built
// first if missing, which needs root and the Debian mirror. It returns an
// error wrapping ErrMGRUnavailable (with the reason) when the script says
// the mirror refused; on any other failure whatever started is stopped.
func StartMGR(basePort int) (*MGR, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	g := &MGR{
		BasePort:   basePort,
		GRBasePort: basePort + 10,
		Ports:      []int{basePort, basePort + 1, basePort + 2},
		script:     filepath.Join(root, "scripts", "sandbox"),
	}
	out, err := g.Run("mgr-up")
	if err != nil {
		if reason, ok := mgrSkipReason(err, out); ok {
			return nil, fmt.Errorf("%w: %s", ErrMGRUnavailable, reason)
		}
		if _, stopErr := g.Run("mgr-down"); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "mysqld: "); ok {
			g.Version = v
		}
	}
	return g, nil
}

// mgrSkipReason reports whether a failed mgr-* command exited with
// MGRSkipExitCode, and its "SKIP mgr:" reason.
func mgrSkipReason(err error, out string) (string, bool) {
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != MGRSkipExitCode {
		return "", false
	}
	for line := range strings.Lines(out) {
		if r, ok := strings.CutPrefix(strings.TrimSpace(line), "SKIP mgr:"); ok {
			return strings.TrimSpace(r), true
		}
	}
	return "exit code 77 without a reason", true
}

// Stop runs `sandbox mgr-down`: every member is stopped and the group's
// files are removed (unless KEEP=1). Calling it twice is fine.
func (g *MGR) Stop() error {
	_, err := g.Run("mgr-down")
	return err
}

// Run runs a sandbox subcommand (mgr-status, mgr-kill N, mgr-start N,
// mgr-switch N, mgr-lag N SECS, ...) for this group. It returns stdout; on
// failure the error includes stdout and stderr.
func (g *MGR) Run(args ...string) (string, error) { return runScript(g.script, g.Env(), args...) }

// SQL runs sql on member n (1..3) as root and returns the batch output:
// tab-separated columns, one row per line, no column names.
func (g *MGR) SQL(n int, sql string) (string, error) {
	if n < 1 || n > len(g.Ports) {
		return "", fmt.Errorf("mgr: no member %d", n)
	}
	return g.Run("mgr-sql", strconv.Itoa(n), sql)
}

// Env returns the environment entries that select this group.
func (g *MGR) Env() []string {
	return []string{
		"MGR_BASE_PORT=" + strconv.Itoa(g.BasePort),
		"MGR_GR_BASE_PORT=" + strconv.Itoa(g.GRBasePort),
	}
}

// Addr returns member n's TCP address, "127.0.0.1:port".
func (g *MGR) Addr(n int) string {
	return "127.0.0.1:" + strconv.Itoa(g.Ports[n-1])
}

// Member returns the member (1..3) listening on port, or 0.
func (g *MGR) Member(port int) int {
	for i, p := range g.Ports {
		if p == port {
			return i + 1
		}
	}
	return 0
}
