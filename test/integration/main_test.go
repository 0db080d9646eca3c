// Package integration runs rwproxy (in-process) in front of a real MariaDB
// primary and two replicas started by scripts/sandbox, and checks with real
// clients (go-sql-driver, go-mysql, the mariadb CLI, sysbench) that what a
// client sees through the proxy is what it sees connected directly.
package integration

import (
	"fmt"
	"os"
	"testing"

	"github.com/rwproxy/rwproxy/internal/testkit"
)

// defaultBasePort is the sandbox's first port (nodes use 23500..23502). The
// testkit's own test uses 23400 and the demo sandbox 3316. RWPROXY_IT_BASE_PORT
// overrides it, so that two runs of this package can coexist on one machine.
const defaultBasePort = 23500

func basePort() (int, error) {
	return testkit.BasePort("RWPROXY_IT_BASE_PORT", defaultBasePort, 3)
}

// sandboxTools are what TestMain needs to start the sandbox.
var sandboxTools = []string{"mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin"}

// sb is the package's sandbox, shared by every test; nil when the tools are
// missing (each test then skips, or fails under CI=true, in needSandbox).
var sb *testkit.Sandbox

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if missing := testkit.MissingTools(sandboxTools...); len(missing) > 0 {
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
	disarm := s.StopOnExit()
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: stopping the sandbox: %v\n", err)
		}
		disarm()
	}()
	return m.Run()
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
