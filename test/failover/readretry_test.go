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

// killAttempts bounds how often TestReplicaKilledUnderSysbenchReadOnly
// kills node3 to catch a read in flight.
const killAttempts = 5

// TestReplicaKilledUnderSysbenchReadOnly is issue #21 item 2: sysbench
// oltp_read_only through the proxy, with prepared statements and with text
// queries, while replica node3 is SIGKILLed mid-run. Reads in flight on
// node3 (and reads that picked it before the monitor shunned it) are re-run
// on another server: sysbench sees no error and no reconnect in any second
// and is still running when the test stops it.
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
				"--threads=8", "--time=600", "--report-interval=1", "run")...)
			retries0 := a.Stats.ReadRetries.Load()
			// A kill reaches a read in flight on node3 only if one is there
			// at that instant (often, not always: 8 threads, 2 replicas,
			// reads of a few ms): node3 is started again and killed again
			// until one was, at most killAttempts times.
			var retried uint64
			for attempt := 1; attempt <= killAttempts && retried == 0; attempt++ {
				if attempt > 1 {
					_, err := sb.Run("start", "3")
					require.NoError(t, err)
					waitFor(t, 60*time.Second, func() bool { return usableIn(a, 20, n3) }, "node3 back: %v", hostgroups(a))
				}
				q0 := a.Pools.Stats(n3).Queries.Load()
				waitFor(t, 30*time.Second, func() bool { return a.Pools.Stats(n3).Queries.Load() >= q0+500 },
					"reads on node3 before the kill")
				_, err := sb.Run("kill", "3")
				require.NoError(t, err)
				waitFor(t, 30*time.Second, func() bool { return stateIn(a, 20, n3) == topology.StateShunned },
					"node3 not SHUNNED: %v", hostgroups(a))
				retried = a.Stats.ReadRetries.Load() - retries0
				t.Logf("kill %d: reads re-run so far %d", attempt, retried)
			}
			out, _ := bench.stop(t) // no error and no reconnect in any second
			t.Logf("sysbench oltp_read_only --db-ps-mode=%s, node3 killed mid-run:\n%s", mode, out)
			t.Logf("reads re-run after node3 died: %d (failed again: %d); reader fallbacks %d",
				retried, a.Stats.ReadRetryFailures.Load(), a.Stats.ReaderFallbacks.Load())
			require.Positive(t, retried, "no read was re-run: none of %d kills of node3 reached a read in flight", killAttempts)
			require.Zero(t, a.Stats.ReadRetryFailures.Load(), "Read_Retry_Failures")
			require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
		})
	}
}
