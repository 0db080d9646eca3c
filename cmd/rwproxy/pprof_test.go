package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPprofLoopbackOnly: --pprof on an address reachable from other hosts
// is refused unless --pprof-any-address is given; a loopback one is not
// (each run stops later, at the missing configuration file).
func TestPprofLoopbackOnly(t *testing.T) {
	if args := os.Getenv("RWPROXY_TEST_ARGS"); args != "" {
		os.Args = append([]string{"rwproxy"}, strings.Fields(args)...)
		main()
		return
	}
	run := func(args string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPprofLoopbackOnly$")
		// schedtrace=0: main() must not re-execute this test binary with
		// rwproxy's arguments (keepSysmonAwake).
		cmd.Env = append(os.Environ(), "RWPROXY_TEST_ARGS="+args, "GODEBUG=schedtrace=0")
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "rwproxy must stop: %s", out)
		return string(out)
	}
	const missing = " --config /nonexistent/rwproxy.yaml"
	require.Contains(t, run("--pprof 0.0.0.0:0"+missing), "--pprof 0.0.0.0:0 is not a loopback address")
	require.Contains(t, run("--pprof :0"+missing), "is not a loopback address")
	for _, args := range []string{"--pprof 127.0.0.1:0", "--pprof 0.0.0.0:0 --pprof-any-address"} {
		out := run(args + missing)
		require.NotContains(t, out, "loopback", args)
		require.Contains(t, out, "/nonexistent/rwproxy.yaml", args)
	}
}
