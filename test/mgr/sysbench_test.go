package mgr

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sysbenchArgs are sysbench's options for schema sbmgr (4 tables of 10000
// rows) on addr.
func sysbenchArgs(addr string, test string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{test, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbmgr", "--tables=4", "--table-size=10000"}
}

// prepareSysbench makes member1 the primary, runs extra (SQL, may be
// empty) there and fills schema sbmgr with sysbench's tables.
func prepareSysbench(t *testing.T, extra string) {
	t.Helper()
	needGroup(t)
	if _, err := exec.LookPath("sysbench"); err != nil {
		t.Fatal("sysbench is not installed")
	}
	healthyWithPrimary(t, 1)
	_, err := grp.SQL(1, "DROP DATABASE IF EXISTS sbmgr; CREATE DATABASE sbmgr; "+extra)
	require.NoError(t, err)
	prep := exec.Command("sysbench", append(sysbenchArgs(grp.Addr(1), "oltp_read_write"), "--threads=4", "prepare")...)
	out, err := prep.CombinedOutput()
	require.NoError(t, err, "sysbench prepare on member1:\n%s", out)
}

// TestSysbenchPrimaryKilledNoMalformedReply is issue #21's first report:
// sysbench oltp_read_write (prepared statements, 8 threads) through rwproxy,
// the primary SIGKILLed after a few seconds. sysbench used to stop at once
// with "error 2027 (Received malformed packet) for query 'COMMIT'": the
// reply to a prepared statement whose backend died was not a valid packet.
// A COMMIT in flight still fails (never replayed; other statements are,
// see TestReplaySysbenchPrimaryKilledThreeTimes), with a proper error:
// rwproxy's lost-backend error (9020), never 2027.
func TestSysbenchPrimaryKilledNoMalformedReply(t *testing.T) {
	prepareSysbench(t, "")

	a, _ := startProxy(t, 1, defaultPool)
	waitLayout(t, a, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sysbench", append(sysbenchArgs(a.Addr(), "oltp_read_write"),
		"--threads=8", "--time=40", "--report-interval=0", "--mysql-ignore-errors=1213,1020,1205", "run")...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Kill once sysbench has committed transactions through the proxy.
	waitFor(t, a, "sysbench writes", time.Minute, func() bool {
		return a.Stats.Queries.Load() > 2000
	})
	_, err := grp.Run("mgr-kill", "1")
	require.NoError(t, err)
	err = <-done
	out := buf.Bytes()
	t.Logf("sysbench (exit %v):\n%s", err, out)
	require.NotContains(t, string(out), "2027", "a malformed reply reached sysbench")
	require.NotContains(t, string(out), "malformed")
	// sysbench stops with a proper error or runs on (not asserted: replay
	// is issue #21's later part); whatever error it reports is a MySQL one.
	if m := regexp.MustCompile(`error (\d+) \(`).FindStringSubmatch(string(out)); m != nil {
		code, _ := strconv.Atoi(m[1])
		require.Contains(t, []int{9020, 9001, 9002}, code, "error reported by sysbench")
	}
}
