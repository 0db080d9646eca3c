// Package integration runs rwproxy (in-process) in front of a real MariaDB
// primary and two replicas started by scripts/sandbox, and checks with real
// clients (go-sql-driver, go-mysql, the mariadb CLI, sysbench) that what a
// client sees through the proxy is what it sees connected directly.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/rwproxy/rwproxy/internal/testkit"
)

// defaultBasePort is the sandbox's first port (nodes use 23500..23502). The
// testkit's own test uses 23400 and the demo sandbox 3316. RWPROXY_IT_BASE_PORT
// overrides it, so that two runs of this package can coexist on one machine.
const defaultBasePort = 23500

func basePort() (int, error) {
	v := os.Getenv("RWPROXY_IT_BASE_PORT")
	if v == "" {
		return defaultBasePort, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1024 || p > 65000 {
		return 0, fmt.Errorf("RWPROXY_IT_BASE_PORT=%q: want a port number in 1024..65000", v)
	}
	return p, nil
}

// sandboxTools are what TestMain needs to start the sandbox.
var sandboxTools = []string{"mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin"}

// sb is the package's sandbox, shared by every test; nil when the tools are
// missing (each test then skips, or fails under CI=true, in needSandbox).
var sb *testkit.Sandbox

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if missing := missingTools(sandboxTools...); len(missing) > 0 {
		// Run the tests anyway: needSandbox makes each one skip, or fail
		// when CI=true (the sandbox tier is never skipped in CI).
		fmt.Fprintf(os.Stderr, "integration: sandbox tools missing: %v\n", missing)
		return m.Run()
	}
	port, err := basePort()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	s, err := testkit.StartSandbox(port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: cannot start the sandbox: %v\n", err)
		return 1
	}
	sb = s
	disarm := stopOnExit(s)
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: stopping the sandbox: %v\n", err)
		}
		disarm()
	}()
	return m.Run()
}

// stopOnExit starts a watchdog process that runs `sandbox down` if this test
// binary dies without stopping the sandbox itself: a panicking test, a
// -timeout, or a signal end the process without running TestMain's defers.
// The watchdog holds the read end of a pipe whose write end only this
// process has; when the process ends, however it ends, the read returns.
// disarm tells the watchdog the sandbox is already down.
func stopOnExit(s *testkit.Sandbox) (disarm func()) {
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "sandbox"))
	if err != nil {
		return func() {}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", `read x; [ "$x" = stopped ] || exec "$0" down`, script)
	cmd.Stdin = r
	cmd.Env = append(os.Environ(), s.Env()...)
	// Own session: a ^C to go test's process group must not kill the
	// watchdog before it has stopped the servers. No stdout/stderr is
	// inherited, so go test does not wait for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: no sandbox watchdog: %v\n", err)
		_ = w.Close()
		return func() {}
	}
	return func() {
		_, _ = w.WriteString("stopped\n")
		_ = w.Close()
		_ = cmd.Wait()
	}
}

// needSandbox skips (or fails under CI=true) a test when the sandbox could
// not be started for lack of tools.
func needSandbox(t *testing.T, tools ...string) {
	t.Helper()
	testkit.RequireTools(t, append(append([]string{}, sandboxTools...), tools...)...)
	if sb == nil {
		t.Fatal("sandbox not running")
	}
}

func missingTools(tools ...string) []string {
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err == nil {
			continue
		}
		found := false
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
			if fi, err := os.Stat(filepath.Join(dir, tool)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, tool)
		}
	}
	return missing
}
