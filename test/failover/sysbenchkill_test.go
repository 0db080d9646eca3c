package failover

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestSysbenchPrimaryKilledPromoted is issue #21's "the same on the
// MariaDB async sandbox with a promotion": sysbench oltp_read_write (8
// threads, prepared statements, sysbench's default --mysql-ignore-errors)
// and a write log of our own run through the proxy while the primary is
// SIGKILLed and node 2 promoted. What it holds rwproxy to:
//   - sysbench stops on nothing: a transaction in flight on node 1 is
//     replayed on node 2, a COMMIT whose answer the kill swallowed is
//     resolved by the commit check (transaction_replay_commit_check: the
//     marker row read on node 2 after the promotion applied its relay
//     log), and the only errors left are 1213 (a replay whose results
//     differed: sysbench retries it);
//   - the write log's transactions: every acknowledged one has its rows on
//     node 2, none has half of them, none that got a definite error (1213
//     included) has any, so none was applied twice (a COMMIT found
//     committed and then replayed would hit the primary key: its 1213
//     would leave rows behind); no COMMIT error other than 1213;
//   - the time from the SIGKILL to the first write served.
//
// Replication is semi-synchronous towards node 2 (AFTER_SYNC), as in
// TestFailoverPrimaryKilled: a commit node 1 acknowledged is in node 2's
// relay log, so a missing acknowledged write is the proxy's fault.
func TestSysbenchPrimaryKilledPromoted(t *testing.T) {
	needTools(t, "sysbench")
	s := freshSandbox(t, base+40)
	const schema = "fo_sbkill"
	createWriteTables(t, s, 1, schema)
	rootSQL(t, s, 1, "CREATE TABLE "+schema+".rwproxy_commit (node VARCHAR(128) NOT NULL, session BIGINT UNSIGNED NOT NULL, "+
		"seq BIGINT UNSIGNED NOT NULL, PRIMARY KEY (node, session))")
	enableSemiSync(t, s)
	host, port, _ := net.SplitHostPort(s.Addr(1))
	sbArgs := func(host, port string) []string {
		return []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
			"--mysql-user=app", "--mysql-password=app", "--mysql-db=" + schema, "--tables=4", "--table-size=10000"}
	}
	prep := startSysbench(t, append(sbArgs(host, port), "prepare")...)
	<-prep.done
	require.NoError(t, prep.err, "sysbench prepare on the primary:\n%s", prep.out.String())
	_, err := s.Run("sync")
	require.NoError(t, err)

	a := startProxyWith(t, s, func(c *config.Config) { c.TransactionReplayCommitCheck = schema + ".rwproxy_commit" })
	n1, n2 := s.Addr(1), s.Addr(2)
	w := startWriteLoad(t, a, schema, 1, 2, false)
	host, port, _ = net.SplitHostPort(a.Addr())
	bench := startSysbench(t, append(sbArgs(host, port), "--threads=8", "--time=45", "--report-interval=1", "run")...)
	q0 := a.Pools.Stats(n1).Queries.Load()
	waitFor(t, 60*time.Second, func() bool {
		return a.Pools.Stats(n1).Queries.Load() >= q0+5000 &&
			w.count(func(o writeOp) bool { return o.kind == opTxn && o.err == nil }) >= 30
	}, "sysbench and the write log under way")

	// node3 must not be ahead of node2 (see TestFailoverPrimaryKilled).
	rootSQL(t, s, 3, "STOP SLAVE")
	acked := w.count(func(o writeOp) bool { return o.err == nil })
	waitFor(t, 30*time.Second, func() bool { return w.count(func(o writeOp) bool { return o.err == nil }) >= acked+20 },
		"writes after node3 stopped replicating")

	tKill := time.Now()
	out, err := s.Run("kill", "1")
	require.NoError(t, err, out)
	tKilled := time.Now()
	writable := watchWritable(t, s, 2)
	out, err = s.Run("promote", "2")
	require.NoError(t, err, out)
	tPromoted := time.Now()
	tWriter := waitFor(t, 2*interval+grace, func() bool { return usableIn(a, 10, n2) }, "node2 not the writer: %v", hostgroups(a))
	var first writeOp
	waitFor(t, 30*time.Second, func() bool {
		var ok bool
		first, ok = firstOK(w.snapshot(), func(o writeOp) bool { return o.kind == opTxn && o.start.After(tKilled) })
		return ok
	}, "no transaction begun after the kill was acknowledged")

	tWritable := writable()
	<-bench.done
	w.halt()
	sbOut := bench.out.String()
	ops := w.snapshot()
	errs := errorsOf(ops)
	require.False(t, tWritable.IsZero(), "node2's read_only=OFF was never seen")
	t.Logf("SIGKILL of node1: kill returned after %s, node2 writable (read_only=OFF) after %s, promote 2 returned "+
		"after %s; node2 the writer in the proxy by %s after the SIGKILL; first transaction begun after the kill "+
		"acknowledged %s after the SIGKILL, %s after node2 became writable",
		ms(tKilled.Sub(tKill)), ms(tWritable.Sub(tKill)), ms(tPromoted.Sub(tKill)), ms(tWriter.Sub(tKill)),
		ms(first.end.Sub(tKill)), ms(first.end.Sub(tWritable)))
	t.Logf("write log: %d operations, errors by code %v", len(ops), errorSummary(ops))
	for i, o := range errs {
		if i == 20 {
			break
		}
		t.Logf("error: %v", o)
	}
	rs := &a.Stats.Replay
	t.Logf("commit checks: %d (%d found committed, %d replayed), %d marker errors; sysbench:\n%s",
		rs.CommitChecks.Load(), rs.CommitsFound.Load(), rs.CommitsReplayed.Load(), rs.MarkerErrors.Load(),
		sysbenchTail(sbOut))

	require.NoError(t, bench.err, "sysbench failed (an error it does not ignore ends it):\n%s", sbOut)
	require.NotRegexp(t, `(?i)fatal`, sbOut, "sysbench output")
	require.Equal(t, "0", sysbenchSummary(t, sbOut, "reconnects"), "sysbench reconnects")
	requireCleanErrors(t, ops)
	for _, o := range errs {
		if o.kind == opTxn {
			me := mysqlErr(o.err)
			require.True(t, me != nil && me.Number == 1213, "a write-log transaction failed other than with 1213: %v", o)
		}
	}
	requireNoLostWrites(t, s, 2, w)
	requireReplayed(t, a, errs)
	require.Zero(t, rs.MarkerErrors.Load(), "the marker statement failed")
	require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
}

// sysbenchTail is sysbench's output from its summary on (all of it when
// there is none).
func sysbenchTail(out string) string {
	if i := strings.Index(out, "SQL statistics:"); i >= 0 {
		return out[i:]
	}
	return fmt.Sprint(out)
}
