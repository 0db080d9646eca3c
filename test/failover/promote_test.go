package failover

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit"
)

// TestPromoteNoLostWrites: three autocommit writers, two transactional
// writers and a probe transaction (INSERT; SELECT @@port; COMMIT) write
// through the proxy while `promote 2` switches the primary over (node 1
// read-only, node 2 catches up, node 2 writable). Within 2 read-only check
// intervals of the promotion, writes land on node 2; every write the proxy
// acknowledged is on node 2 afterwards; errors, if any, are MySQL errors
// sent to the client, and a write that failed with a definite error is not
// there.
func TestPromoteNoLostWrites(t *testing.T) {
	needTools(t)
	s := freshSandbox(t, base+10)
	const schema = "fo_promote"
	createWriteTables(t, s, 1, schema)
	_, err := s.Run("sync")
	require.NoError(t, err)
	a := startProxy(t, s)
	p1, p2 := s.Ports[0], s.Ports[1]

	w := startWriteLoad(t, a, schema, 3, 2, true)
	probeOn := func(port int, after time.Time) func(writeOp) bool {
		return func(o writeOp) bool {
			return o.kind == opProbe && o.err == nil && o.port == port && o.start.After(after)
		}
	}
	waitFor(t, 30*time.Second, func() bool {
		return w.count(func(o writeOp) bool { return o.kind == opInsert && o.err == nil }) >= 300 &&
			w.count(func(o writeOp) bool { return o.kind == opTxn && o.err == nil }) >= 30 &&
			w.count(probeOn(p1, time.Time{})) >= 30
	}, "writes before the promotion")

	writable := watchWritable(t, s, 2)
	waits0 := a.Stats.FailoverWaits.Load()
	tPromote := time.Now()
	out, err := s.Run("promote", "2")
	require.NoError(t, err)
	tPromoted := time.Now()
	t.Logf("promote 2 took %s:\n%s", ms(tPromoted.Sub(tPromote)), out)

	// A write shows node2's port within 2 read-only intervals (plus the
	// scheduling grace, as every bound here) of the promotion returning
	// (usually before it returns: the script repoints the other nodes
	// after making node2 writable).
	waitFor(t, 2*interval+grace, func() bool { _, ok := firstOK(w.snapshot(), probeOn(p2, time.Time{})); return ok },
		"no write landed on node2 within 2 read-only intervals of the promotion")
	first, _ := firstOK(w.snapshot(), probeOn(p2, time.Time{}))
	tWritable := writable()
	require.False(t, tWritable.IsZero(), "node2's read_only=OFF was never seen")
	t.Logf("first write on node2 committed %s after the promote started, %s after node2 was seen writable, %s after promote returned",
		ms(first.end.Sub(tPromote)), ms(first.end.Sub(tWritable)), ms(first.end.Sub(tPromoted)))
	require.LessOrEqual(t, first.end.Sub(tWritable), 2*interval+grace,
		"writes reached node2 %s after it became writable", first.end.Sub(tWritable))

	// Writes go on on node2.
	waitFor(t, 30*time.Second, func() bool {
		return w.count(probeOn(p2, tPromoted)) >= 30 &&
			w.count(func(o writeOp) bool { return o.kind == opInsert && o.err == nil && o.start.After(tPromoted) }) >= 300
	}, "writes after the promotion")
	w.halt()

	ops := w.snapshot()
	for _, o := range ops {
		require.False(t, o.kind == opProbe && o.err == nil && o.port == p1 && o.end.After(tWritable),
			"a write committed on the old primary after node2 was writable: %v", o)
	}
	errs := errorsOf(ops)
	t.Logf("%d operations, %d errors by code %v; failover waits %d", len(ops), len(errs), errorSummary(ops),
		a.Stats.FailoverWaits.Load()-waits0)
	for _, o := range errs {
		t.Logf("error: %v", o)
	}
	requireCleanErrors(t, ops)
	requireNoLostWrites(t, s, 2, w)
	require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
}

// TestFailoverPrimaryKilled: the same writers while node 1 is SIGKILLed
// and node 2 promoted (the sandbox's failover path). Writes that arrive
// while there is no writer wait (failover_buffer 10 s) and succeed on
// node 2; only statements in flight on node 1 at the kill may fail; no
// acknowledged write is lost.
//
// Replication is semi-synchronous towards node 2 here (AFTER_SYNC, node 3
// stays asynchronous): with plain asynchronous replication a write that
// node 1 acknowledged an instant before SIGKILL may never reach node 2,
// which would be replication losing it, not the proxy. With node 2's
// acknowledgement required before node 1 answers, a missing write is one
// the proxy acknowledged without the server doing so.
func TestFailoverPrimaryKilled(t *testing.T) {
	needTools(t)
	s := freshSandbox(t, base+20)
	const schema = "fo_failover"
	createWriteTables(t, s, 1, schema)
	enableSemiSync(t, s)
	_, err := s.Run("sync")
	require.NoError(t, err)
	a := startProxy(t, s)
	p2 := s.Ports[1]
	n1, n2 := s.Addr(1), s.Addr(2)

	const inserters, txns = 3, 2
	w := startWriteLoad(t, a, schema, inserters, txns, true)
	waitFor(t, 30*time.Second, func() bool {
		return w.count(func(o writeOp) bool { return o.kind == opInsert && o.err == nil }) >= 300 &&
			w.count(func(o writeOp) bool { return o.kind == opTxn && o.err == nil }) >= 30
	}, "writes before the kill")

	// node3 must not be ahead of node2 when node1 dies: the sandbox's
	// failover promotes node2 and repoints node3 to it, and a node3 that
	// received a transaction node2 did not (sent by node1, not yet
	// acknowledged by node2) cannot replicate from node2 (error 1236 in
	// gtid_strict_mode). So node3 stops replicating first, and more writes
	// are acknowledged (by node2, in order) before the kill: node2 then has
	// everything node3 has.
	rootSQL(t, s, 3, "STOP SLAVE")
	acked := w.count(func(o writeOp) bool { return o.kind == opInsert && o.err == nil })
	waitFor(t, 30*time.Second, func() bool {
		return w.count(func(o writeOp) bool { return o.kind == opInsert && o.err == nil }) >= acked+inserters*10
	}, "writes after node3 stopped replicating")

	waits0 := a.Stats.FailoverWaits.Load()
	tKill := time.Now()
	kill := runAsync(s, "kill", "1")
	tShun := waitFor(t, 4*interval+grace+5*time.Second, func() bool { return !usableIn(a, 10, n1) },
		"node1 still a usable writer: %v", hostgroups(a))
	// Writes are waiting for a writer before node2 is promoted.
	tWaiting := waitFor(t, 30*time.Second, func() bool { return a.Stats.FailoverWaits.Load() > waits0 },
		"no write waited for a writer")
	_, err = kill()
	require.NoError(t, err)
	tKilled := time.Now()
	t.Logf("kill 1 started; node1 unusable after %s, first failover wait after %s; the kill command returned after %s",
		ms(tShun.Sub(tKill)), ms(tWaiting.Sub(tKill)), ms(tKilled.Sub(tKill)))
	writable := watchWritable(t, s, 2)
	tPromote := time.Now()
	out, err := s.Run("promote", "2")
	require.NoError(t, err)
	tPromoted := time.Now()
	t.Logf("promote 2 took %s:\n%s", ms(tPromoted.Sub(tPromote)), out)

	tWriter := waitFor(t, 2*interval+grace, func() bool { return usableIn(a, 10, n2) },
		"node2 not the writer: %v", hostgroups(a))
	probeOn2 := func(o writeOp) bool { return o.kind == opProbe && o.port == p2 }
	waitFor(t, 2*interval+grace, func() bool { _, ok := firstOK(w.snapshot(), probeOn2); return ok },
		"no write landed on node2")
	tWritable := writable()
	require.False(t, tWritable.IsZero(), "node2's read_only=OFF was never seen")
	waitFor(t, 30*time.Second, func() bool {
		return w.count(func(o writeOp) bool { return o.kind == opInsert && o.err == nil && o.start.After(tPromoted) }) >= 300
	}, "writes after the promotion")
	w.halt()

	ops := w.snapshot()
	first, _ := firstOK(ops, probeOn2)
	var longest time.Duration
	buffered := 0
	for _, o := range ops {
		if o.err == nil && o.start.Before(tPromoted) && o.end.After(tPromote) {
			buffered++
			longest = max(longest, o.end.Sub(o.start))
		}
	}
	errs := errorsOf(ops)
	t.Logf("node2 the writer %s after promote returned; first write on node2 %s after the kill started, %s after promote started, %s after node2 was seen writable, %s after promote returned",
		ms(tWriter.Sub(tPromoted)), ms(first.end.Sub(tKill)), ms(first.end.Sub(tPromote)), ms(first.end.Sub(tWritable)),
		ms(first.end.Sub(tPromoted)))
	t.Logf("%d operations, %d errors by code %v; %d failover waits; %d operations spanned the promotion (longest %s)",
		len(ops), len(errs), errorSummary(ops), a.Stats.FailoverWaits.Load()-waits0, buffered, ms(longest))
	for i, o := range errs {
		if i == 20 {
			t.Logf("... %d more errors", len(errs)-i)
			break
		}
		t.Logf("error: %v (kill %s .. %s, node1 unusable %s)", o, tKill.Format("15:04:05.000"),
			tKilled.Format("15:04:05.000"), tShun.Format("15:04:05.000"))
	}

	require.LessOrEqual(t, first.end.Sub(tWritable), 2*interval+grace,
		"writes reached node2 %s after it became writable", first.end.Sub(tWritable))
	require.Positive(t, a.Stats.FailoverWaits.Load()-waits0, "FailoverWaits")
	require.Positive(t, buffered, "no write waited across the promotion and succeeded")
	requireCleanErrors(t, ops)
	requireNoLostWrites(t, s, 2, w)
	require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
	requireReplayed(t, a, errs)
	if len(errs) == 0 {
		return
	}

	// Only statements in flight on node1 when it died may fail. node1
	// died before the first error reached a client (dead): a statement that
	// failed after starting before then was in flight (at most one per
	// client connection); one that started later arrived while node1 was
	// dead and must have waited for the new writer instead of failing.
	dead := errs[0].end
	for _, o := range errs {
		if o.end.Before(dead) {
			dead = o.end
		}
	}
	inFlight := map[int]int{}
	var arrived []writeOp
	for _, o := range errs {
		if o.start.Before(dead) {
			inFlight[o.worker]++
			continue
		}
		arrived = append(arrived, o)
	}
	for worker, n := range inFlight {
		require.LessOrEqual(t, n, 1, "worker %d: %d statements failed that started before node1's death was seen", worker, n)
	}
	if len(arrived) > 0 {
		require.Failf(t, "writes that arrived while node1 was dead failed instead of waiting for a writer",
			"%d of them (by code %v), started %s .. %s (first error of the kill at %s; node1 unusable at %s, %s after the kill started); first: %v",
			len(arrived), errorSummary(arrived), arrived[0].start.Format("15:04:05.000"),
			arrived[len(arrived)-1].start.Format("15:04:05.000"), dead.Format("15:04:05.000"),
			tShun.Format("15:04:05.000"), ms(tShun.Sub(tKill)), arrived[0])
	}
}

// enableSemiSync makes node1 wait for node2's acknowledgement (after its
// binlog sync, before committing) before it answers a commit. node3 stays
// asynchronous.
func enableSemiSync(t *testing.T, s *testkit.Sandbox) {
	t.Helper()
	rootSQL(t, s, 1, `SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC;
		SET GLOBAL rpl_semi_sync_master_timeout = 60000; SET GLOBAL rpl_semi_sync_master_enabled = ON`)
	rootSQL(t, s, 2, `SET GLOBAL rpl_semi_sync_slave_enabled = ON; STOP SLAVE IO_THREAD; START SLAVE IO_THREAD`)
	waitFor(t, 30*time.Second, func() bool {
		return globalStatus(t, s, 1, "Rpl_semi_sync_master_clients") == 1 &&
			strings.Contains(rootSQL(t, s, 1, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'"), "ON")
	}, "node2 never became node1's semi-synchronous replica")
}

// watchWritable polls node's @@global.read_only (as app, over TCP) every
// 5 ms until it reads 0 or the test ends, and returns a function giving
// when it was first seen 0 (zero until then).
func watchWritable(t *testing.T, s *testkit.Sandbox, node int) func() time.Time {
	t.Helper()
	db, err := sql.Open("mysql", s.DSN(node, "app", ""))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	w := testkit.StartWatch(5*time.Millisecond, func(ctx context.Context) bool {
		var ro int
		return db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro) == nil && ro == 0
	})
	t.Cleanup(func() { w.Stop(); _ = db.Close() })
	return w.At
}
