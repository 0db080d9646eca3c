package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit"
)

// spSBSchema holds the sysbench tables of TestSysbenchSplit.
const spSBSchema = "sbsplit"

// spSBTableSize rows, read with a uniform distribution (sysbench's default
// "special" one sends most requests to 1% of the rows): 8 read_write
// threads then practically never deadlock, so a run has no ignored errors.
const spSBTableSize = 50000

// TestSysbenchSplit runs sysbench through the proxy and checks with the
// nodes' own counters where its statements ran: point selects only on the
// replicas, in the configured 1:3 proportion; read_write transactions
// entirely on the writer.
func TestSysbenchSplit(t *testing.T) {
	needSandbox(t)
	testkit.RequireTools(t, "sysbench")
	nodes := spOpenNodes(t)

	d := openDB(t, dsn(primary(), "app", ""))
	spExec(t, d, "DROP DATABASE IF EXISTS "+spSBSchema)
	spExec(t, d, "CREATE DATABASE "+spSBSchema)
	spSysbench(t, "oltp_point_select", primary(), 1, 0, "prepare")
	_, err := sb.Run("sync")
	require.NoError(t, err)

	t.Run("oltp_point_select, replicas weighted 1:3", func(t *testing.T) {
		a := spProxy(t, func(c *config.Config) { c.Servers[1].Weight, c.Servers[2].Weight = 1, 3 })
		selBefore, comBefore := nodes.appSelects(t), nodes.status(t, "Com_select")
		res := spSysbench(t, "oltp_point_select", a.Addr(), 16, 20*time.Second, "run")
		sel := nodes.appSelectsAfter(t, selBefore, res.reads)
		com := spDelta(comBefore, nodes.status(t, "Com_select"))
		t.Logf("sysbench: %s; SELECTs by user app per node %v; Com_select deltas (with the monitor's) %v", res, sel, com)
		require.Zero(t, res.errors, "sysbench ignored errors:\n%s", res.out)
		require.Zero(t, res.reconnects, "sysbench reconnects:\n%s", res.out)
		require.Positive(t, res.reads)
		require.Zero(t, sel[0], "the writer served point selects")
		require.Equal(t, res.reads, sel[1]+sel[2], "the replicas' counters disagree with sysbench's read count")
		share2 := 100 * float64(sel[1]) / float64(sel[1]+sel[2])
		require.InDelta(t, 25, share2, 5, "node2 (weight 1) share %.1f%%", share2)
		require.InDelta(t, 75, 100-share2, 5, "node3 (weight 3) share %.1f%%", 100-share2)
		require.Zero(t, a.Stats.ReaderFallbacks.Load())
	})

	t.Run("oltp_read_write: every transaction on the writer", func(t *testing.T) {
		a := spProxy(t, nil)
		selBefore, execBefore := nodes.appSelects(t), nodes.status(t, "Com_stmt_execute")
		commitBefore := nodes.status(t, "Com_commit")
		res := spSysbench(t, "oltp_read_write", a.Addr(), 8, 10*time.Second, "run")
		sel := nodes.appSelectsAfter(t, selBefore, res.reads)
		exec := spDelta(execBefore, nodes.status(t, "Com_stmt_execute"))
		commits := spDelta(commitBefore, nodes.status(t, "Com_commit"))
		t.Logf("sysbench: %s; SELECTs by user app per node %v; executes %v; commits %v", res, sel, exec, commits)
		require.Zero(t, res.errors, "sysbench ignored errors:\n%s", res.out)
		require.Zero(t, res.reconnects, "sysbench reconnects:\n%s", res.out)
		require.Positive(t, res.transactions)
		require.Equal(t, [3]int64{res.reads, 0, 0}, sel, "SELECTs inside transactions must all run on the writer")
		require.Zero(t, exec[1]+exec[2], "statements executed on the replicas")
		require.Equal(t, res.queries, exec[0], "the writer's executes disagree with sysbench's query count")
		require.GreaterOrEqual(t, commits[0], res.transactions)
		require.Zero(t, a.Stats.ReaderFallbacks.Load())
	})
}

// spSBResult is what a sysbench run reports.
type spSBResult struct {
	reads, queries, transactions, errors, reconnects int64
	out                                              string // sysbench's output
}

// String omits the output.
func (r spSBResult) String() string {
	return fmt.Sprintf("reads %d, queries %d, transactions %d, ignored errors %d, reconnects %d",
		r.reads, r.queries, r.transactions, r.errors, r.reconnects)
}

var spSBFields = map[string]*regexp.Regexp{
	"reads":        regexp.MustCompile(`(?m)^\s+read:\s+(\d+)`),
	"queries":      regexp.MustCompile(`(?m)^\s+queries:\s+(\d+)`),
	"transactions": regexp.MustCompile(`(?m)^\s+transactions:\s+(\d+)`),
	"errors":       regexp.MustCompile(`(?m)^\s+ignored errors:\s+(\d+)`),
	"reconnects":   regexp.MustCompile(`(?m)^\s+reconnects:\s+(\d+)`),
}

// spSysbench runs sysbench script with command (prepare or run) against
// addr on the sbsplit tables, as user app.
func spSysbench(t *testing.T, script, addr string, threads int, dur time.Duration, command string) spSBResult {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	args := []string{script, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=" + spSBSchema,
		"--tables=1", "--table-size=" + strconv.Itoa(spSBTableSize), "--threads=" + strconv.Itoa(threads),
		"--rand-type=uniform"}
	if dur > 0 {
		args = append(args, "--time="+strconv.Itoa(int(dur.Seconds())), "--events=0", "--report-interval=0")
	}
	cmd := exec.CommandContext(ctx, "sysbench", append(args, command)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "sysbench %s %s:\n%s", script, command, out.String())
	res := spSBResult{out: out.String()}
	if command != "run" {
		return res
	}
	dst := map[string]*int64{"reads": &res.reads, "queries": &res.queries, "transactions": &res.transactions,
		"errors": &res.errors, "reconnects": &res.reconnects}
	for name, re := range spSBFields {
		m := re.FindStringSubmatch(out.String())
		require.NotNil(t, m, "no %s in the sysbench output:\n%s", name, out.String())
		v, err := strconv.ParseInt(m[1], 10, 64)
		require.NoError(t, err)
		*dst[name] = v
	}
	return res
}
