// Package failover runs rwproxy (in-process) in front of a real MariaDB
// primary and two replicas while servers lag, die and are promoted, and
// checks what clients see: where reads and writes go, how many statements
// fail and how, and that no write the proxy acknowledged is lost.
//
// These tests kill and promote servers, so they never touch the shared
// sandbox of test/integration. TestMain starts this package's own sandbox
// (nodes on basePort..basePort+2) for the tests that put the topology back
// as they found it (lag, replica kill); the promotion tests start a fresh
// sandbox each (basePort+10.., basePort+20..) because they leave a
// different primary behind.
package failover

import (
	"fmt"
	"os"
	"testing"

	"github.com/rwproxy/rwproxy/internal/testkit"
)

// defaultBasePort is the package sandbox's first port. Other users of the
// machine: testkit 23400, test/integration 23500, monitor 23700, the demo
// 3316. RWPROXY_FAILOVER_BASE_PORT overrides it.
const defaultBasePort = 23800

// sandboxTools are what a sandbox needs.
var sandboxTools = []string{"mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin"}

// sb is the package sandbox; nil when the tools are missing (needSandbox
// then skips, or fails under CI=true).
var sb *testkit.Sandbox

// base is the package's first port (sb uses base..base+2).
var base = defaultBasePort

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	p, err := testkit.BasePort("RWPROXY_FAILOVER_BASE_PORT", defaultBasePort, 3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		return 1
	}
	base = p
	// The script waits up to SANDBOX_TIMEOUT (60 s by default) for each
	// step; a broken step should fail the package well within its budget.
	if os.Getenv("SANDBOX_TIMEOUT") == "" {
		_ = os.Setenv("SANDBOX_TIMEOUT", "30")
	}
	if missing := testkit.MissingTools(sandboxTools...); len(missing) > 0 {
		// Run the tests anyway: each one skips, or fails under CI=true.
		fmt.Fprintf(os.Stderr, "failover: sandbox tools missing: %v\n", missing)
		return m.Run()
	}
	s, disarm, err := startSandbox(base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "failover: cannot start the sandbox: %v\n", err)
		return 1
	}
	sb = s
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "failover: stopping the sandbox: %v\n", err)
		}
		disarm()
	}()
	return m.Run()
}

// needTools skips (or fails under CI=true) when a sandbox tool or one of
// tools is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	testkit.RequireTools(t, append(append([]string{}, sandboxTools...), tools...)...)
}

// needSandbox is needTools for a test that uses the package sandbox.
func needSandbox(t *testing.T, tools ...string) {
	t.Helper()
	needTools(t, tools...)
	if sb == nil {
		t.Fatal("package sandbox not running")
	}
}

// freshSandbox starts a sandbox of its own for one test on ports
// port..port+2 and stops it when the test ends.
func freshSandbox(t *testing.T, port int) *testkit.Sandbox {
	t.Helper()
	s, disarm, err := startSandbox(port)
	if err != nil {
		t.Fatalf("sandbox on %d: %v", port, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the sandbox on %d: %v", port, err)
		}
		disarm()
	})
	return s
}

// startSandbox starts a sandbox with a watchdog that runs `sandbox down`
// if this test binary dies without stopping it (panic, -timeout, signal):
// the watchdog reads a pipe whose write end only this process holds.
// disarm tells it the sandbox is already down.
func startSandbox(port int) (*testkit.Sandbox, func(), error) {
	s, err := testkit.StartSandbox(port)
	if err != nil {
		return nil, nil, err
	}
	return s, s.StopOnExit(), nil
}
