package integration

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/internal/replay"
)

// sbCapture are the sysbench options of TestCaptureReplaySysbench: 8
// tables of 10000 rows in schema sbcap (as TestSysbenchReadWrite: little
// lock contention, so that a replay at another speed rarely meets a
// deadlock the capture did not have), ids drawn uniformly. sysbench's
// default draws 75% of them from 1% of the rows, so that two sessions
// often write one row within a millisecond; which of the two took its
// lock first is then not in the capture (its times are the proxy's, and
// two backend connections may reach the server in the other order), the
// replay sends them in the proxy's order, and when the server saw the
// other one the two sessions wait for each other until the replay's stall
// rule lets them go, the row's writes applied the other way round (CI
// once saw that give 20 checksum mismatches; docs/observability.md).
func sbCapture(addr string, args ...string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return append([]string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbcap", "--tables=8", "--table-size=10000",
		"--rand-type=uniform"}, args...)
}

// prepareAndSnapshot fills the sysbench tables on the primary and keeps a
// copy of them in schema sbcap_orig: sysbench's prepare is not
// deterministic (its rows differ from one prepare to the next, whatever
// --rand-seed), so a fresh copy is restored from the snapshot.
func prepareAndSnapshot(t *testing.T) {
	t.Helper()
	out, err := runSysbench(t, 5*time.Minute, sbCapture(primary(), "prepare")...)
	require.NoError(t, err, out)
	d := conn(t, openDB(t, dsn(primary(), "app", "")))
	spExec(t, d, "DROP DATABASE IF EXISTS sbcap_orig")
	spExec(t, d, "CREATE DATABASE sbcap_orig")
	for i := 1; i <= sbTables; i++ {
		spExec(t, d, fmt.Sprintf("CREATE TABLE sbcap_orig.sbtest%d LIKE sbcap.sbtest%d", i, i))
		spExec(t, d, fmt.Sprintf("INSERT INTO sbcap_orig.sbtest%d SELECT * FROM sbcap.sbtest%d", i, i))
	}
	_, err = sb.Run("sync")
	require.NoError(t, err)
}

// freshCopy restores the sysbench tables as they were when the capture
// started (the "fresh copy" a replay runs against).
func freshCopy(t *testing.T) {
	t.Helper()
	d := conn(t, openDB(t, dsn(primary(), "app", "")))
	for i := 1; i <= sbTables; i++ {
		spExec(t, d, fmt.Sprintf("DROP TABLE sbcap.sbtest%d", i))
		spExec(t, d, fmt.Sprintf("CREATE TABLE sbcap.sbtest%d LIKE sbcap_orig.sbtest%d", i, i))
		spExec(t, d, fmt.Sprintf("INSERT INTO sbcap.sbtest%d SELECT * FROM sbcap_orig.sbtest%d", i, i))
	}
	_, err := sb.Run("sync")
	require.NoError(t, err)
}

// sbTables is the number of sysbench tables.
const sbTables = 8

// TestCaptureReplaySysbench captures sysbench oltp_read_write with 4
// threads (10 s; RWPROXY_CAPTURE_SECONDS sets another length: the issue's
// 30 s run is done by hand) through rwproxy, then replays it with the same
// concurrency directly against the primary of a fresh copy of the tables
// at 1x and 2x: no unexpected error, and every read returns the captured
// number of rows with the captured checksum (the replay keeps the
// capture's order between sessions: internal/replay/order.go). A third
// replay runs against a copy where one table lost its primary key, for
// the latency per digest (logged).
func TestCaptureReplaySysbench(t *testing.T) {
	needSandbox(t)
	createSchema(t, "sbcap", nil)
	prepareAndSnapshot(t)
	a := startSplitProxy(t)
	dir := t.TempDir()
	require.NoError(t, a.Capture.Start(capture.Options{Dir: dir}))
	secs := cmp.Or(os.Getenv("RWPROXY_CAPTURE_SECONDS"), "10")
	out, err := runSysbench(t, 3*time.Minute, sbCapture(a.Addr(), "run", "--threads=4", "--time="+secs)...)
	require.NoError(t, err, out)
	res := parseSysbench(t, out)
	s, err := a.Capture.Stop()
	require.NoError(t, err)
	t.Logf("captured %d statements (%d dropped) in %d files, %d bytes; sysbench: %d transactions, %d queries, %d ignored errors",
		s.Written, s.Dropped, s.Files, s.Bytes, res.transactions, res.queries, res.ignoredErrors)
	require.Zero(t, s.Dropped)
	require.Positive(t, s.Written)

	for _, speed := range []float64{1, 2} {
		freshCopy(t)
		r, err := replay.Run(context.Background(), replay.Options{From: dir, To: primary(), User: "app", Password: "app", Speed: speed})
		require.NoError(t, err)
		t.Logf("%gx: %s (%d went ahead after a stall)\n%s", speed, r.Summary(), r.OrderReleased, r.Markdown())
		if d := os.Getenv("RWPROXY_CAPTURE_REPORT"); d != "" { // keep the reports (docs)
			require.NoError(t, r.Write(filepath.Join(d, fmt.Sprintf("speed-%g", speed))))
		}
		require.Equal(t, int(s.Written), r.Statements)
		require.Zero(t, r.Unexpected, "%+v", r.Diffs)
		require.Zero(t, r.Mismatches, "%+v", r.Diffs)
		// Reads that overlapped another session's commit in the capture
		// may differ (the capture does not say which came first); they are
		// reported apart, and must stay a small share, or the order is lost.
		require.Less(t, r.OrderDependent, r.Statements/200, "%+v", r.Diffs)
	}

	// The same traffic against a copy where sbtest1 lost its primary key:
	// its statements scan the table (and lock more), which the report's
	// latency per digest shows. Without the key, a replayed statement may
	// meet a deadlock or see a duplicate the capture did not: only the
	// replay's completeness is asserted.
	freshCopy(t)
	d := conn(t, openDB(t, dsn(primary(), "app", "sbcap")))
	spExec(t, d, "ALTER TABLE sbtest1 MODIFY id INT NOT NULL, DROP PRIMARY KEY")
	_, err = sb.Run("sync")
	require.NoError(t, err)
	// Reads only: with 4 threads, writes that scan the table lock all of
	// it and the full replay takes minutes (docs/observability.md has the
	// full one, run by hand). Without the writes, the reads' rows differ
	// from the capture's: only the latencies are of interest here.
	r, err := replay.Run(context.Background(), replay.Options{From: dir, To: primary(), User: "app", Password: "app",
		ReadOnly: os.Getenv("RWPROXY_CAPTURE_SECONDS") == ""})
	require.NoError(t, err)
	t.Logf("sbtest1 without its primary key: %s\n%s", r.Summary(), r.Markdown())
	if d := os.Getenv("RWPROXY_CAPTURE_REPORT"); d != "" {
		require.NoError(t, r.Write(filepath.Join(d, "no-primary-key")))
	}
	require.Equal(t, int(s.Written), r.Statements+r.Skipped)
	p50 := map[string]float64{}
	for _, st := range r.Digests {
		p50[st.Digest] = st.ReplayP50
	}
	// The latencies are logged (and recorded in docs/observability.md),
	// not compared: no timing assertions on this shared machine.
	require.Positive(t, p50["select c from sbtest1 where id = ?"], "the point select on sbtest1 is in the report")
	require.Positive(t, p50["select c from sbtest2 where id = ?"], "and on an unchanged table, to compare")
}
