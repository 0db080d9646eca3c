package failover

import (
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/topology"
)

// sysbenchSummary matches a counter of sysbench's final summary.
func sysbenchSummary(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + name + `:\s+(\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, "no %q in the sysbench summary:\n%s", name, out)
	return m[1]
}

// TestReplicaKilledUnderSysbenchReadOnly is issue #21 item 2: sysbench
// oltp_read_only through the proxy, with prepared statements and with text
// queries, while replica node3 is SIGKILLed mid-run. Reads in flight on
// node3 (and reads that picked it before the monitor shunned it) are re-run
// on another server: sysbench sees no error, no reconnect, and exits 0.
//
// --skip_trx=on runs the reads in autocommit: inside BEGIN ... COMMIT they
// would all be pinned to the writer and the replica's death would not touch
// them.
func TestReplicaKilledUnderSysbenchReadOnly(t *testing.T) {
	needSandbox(t, "sysbench")
	const schema = "fo_sbro"
	rootSQL(t, sb, 1, fmt.Sprintf("DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s", schema))
	t.Cleanup(func() {
		if _, err := sb.Run("start", "3"); err != nil {
			t.Errorf("restarting node3: %v", err)
		}
		_, _ = sb.SQL(1, "DROP DATABASE IF EXISTS "+schema)
	})
	sbArgs := func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		return []string{"oltp_read_only", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
			"--mysql-user=app", "--mysql-password=app", "--mysql-db=" + schema, "--tables=2", "--table-size=10000"}
	}
	prep := startSysbench(t, append(sbArgs(sb.Addr(1)), "prepare")...)
	<-prep.done
	require.NoError(t, prep.err, "sysbench prepare on the primary:\n%s", prep.out.String())
	_, err := sb.Run("sync")
	require.NoError(t, err)

	for _, mode := range []string{"auto", "disable"} { // prepared statements, then text
		t.Run("ps_mode_"+mode, func(t *testing.T) {
			_, err := sb.Run("start", "3") // no-op when it runs
			require.NoError(t, err)
			a := startProxy(t, sb)
			n3 := sb.Addr(3)
			bench := startSysbench(t, append(sbArgs(a.Addr()), "--db-ps-mode="+mode, "--skip_trx=on",
				"--threads=8", "--time=20", "--report-interval=1", "run")...)
			waitFor(t, 30*time.Second, func() bool { return a.Pools.Stats(n3).Queries.Load() >= 500 },
				"reads on node3 before the kill")
			retries0 := a.Stats.ReadRetries.Load()
			_, err = sb.Run("kill", "3")
			require.NoError(t, err)
			waitFor(t, 30*time.Second, func() bool { return stateIn(a, 20, n3) == topology.StateShunned },
				"node3 not SHUNNED: %v", hostgroups(a))
			<-bench.done
			out := bench.out.String()
			t.Logf("sysbench oltp_read_only --db-ps-mode=%s, node3 killed mid-run:\n%s", mode, out)
			require.NoError(t, bench.err, "sysbench failed (a client error ends it)")
			require.NotRegexp(t, `(?i)fatal|error \d{4}|\berror:`, out, "errors in the sysbench output")
			require.Equal(t, "0", sysbenchSummary(t, out, "ignored errors"), "sysbench errors")
			require.Equal(t, "0", sysbenchSummary(t, out, "reconnects"), "sysbench reconnects")
			for _, m := range sysbenchLine.FindAllStringSubmatch(out, -1) {
				require.Equal(t, "0.00", m[5], "sysbench errors per second at %ss:\n%s", m[1], m[0])
			}
			retried := a.Stats.ReadRetries.Load() - retries0
			t.Logf("reads re-run after node3 died: %d (failed again: %d); reader fallbacks %d",
				retried, a.Stats.ReadRetryFailures.Load(), a.Stats.ReaderFallbacks.Load())
			require.Positive(t, retried, "no read was re-run: node3's death did not reach a read in flight")
			require.Zero(t, a.Stats.ReadRetryFailures.Load(), "Read_Retry_Failures")
			require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
		})
	}
}
