package mgr

// The tests run in this order and share one group; each starts by making
// the group healthy again (ensureGroup), TestQuorumLoss last because it
// leaves the group without quorum.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// TestRouting: writes run on the PRIMARY, reads on the SECONDARY members;
// the monitor's roles match what the members report; the proxy's pools and
// monitor log in to MySQL 9.7 with caching_sha2_password.
func TestRouting(t *testing.T) {
	needGroup(t)
	ms := healthyWithPrimary(t, 1)
	a, rdb := startProxy(t, 1, nil)
	waitLayout(t, a, 1)
	t.Logf("monitor:%s", describe(a))
	require.Contains(t, a.ServerVersion(), "9.", "version probed from the primary")

	for n := 1; n <= 3; n++ {
		sh := health(a, n)
		require.NotNil(t, sh.GroupReplication, "member%d", n)
		require.Empty(t, sh.GroupReplicationError, "member%d", n)
		require.Equal(t, "ONLINE", sh.GroupReplication.State)
		require.Equal(t, ms[n-1].Role, sh.GroupReplication.Role, "member%d", n)
		require.True(t, sh.GroupReplication.Quorum)
		require.Equal(t, 3, sh.GroupReplication.Members)
		require.Equal(t, n != 1, sh.ReadOnly, "member%d super_read_only", n)
	}

	wdb := writerDB(t, a)
	for range 5 {
		port, uuid, err := write(context.Background(), wdb)
		require.NoError(t, err)
		require.Equal(t, grp.Ports[0], port, "write ran on port %d, not on the primary", port)
		require.Equal(t, ms[0].UUID, uuid)
	}
	seen := readPorts(t, rdb, 30)
	require.NotContains(t, seen, grp.Ports[0], "a read ran on the primary (writer_is_also_reader: 0): %v", seen)
	require.Contains(t, seen, grp.Ports[1], "no read on member2: %v", seen)
	require.Contains(t, seen, grp.Ports[2], "no read on member3: %v", seen)
	t.Logf("30 reads: %v", seen)
}

// TestReadAfterWrite: with the default pool settings, a session that has
// written still reads from the SECONDARY members (users[].consistency:
// eventual), and other sessions can use the connection that served it.
//
// Fails on rwproxy as of this test. Backend connections run with
// session_track_system_variables='*', so MySQL 9.7 reports statement_id in
// the OK packet of a write; session/state.go's observe() records it as
// session state (it is not in notReplayed), and sync() replays it:
// "SET SESSION statement_id=N" on any other connection the session uses
// (error 1238, read-only variable: the read silently falls back to the
// writer, every later read too; after a switchover or failover every write
// of the session fails), and "SET SESSION statement_id=DEFAULT" when
// another session gets that pooled connection (its first statement fails
// with 1238).
func TestReadAfterWrite(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	a, rdb := startProxy(t, 1, defaultPool)
	waitLayout(t, a, 1)
	ctx := context.Background()
	c, err := rdb.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	port := func() int {
		var p int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT @@port").Scan(&p))
		return p
	}
	require.NotEqual(t, grp.Ports[0], port(), "a read before any write ran on the primary")
	_, err = c.ExecContext(ctx, "INSERT INTO app.lag (v) VALUES (1)")
	require.NoError(t, err)
	fallbacks := a.Stats.ReaderFallbacks.Load()
	var onPrimary int
	for range 10 {
		if port() == grp.Ports[0] {
			onPrimary++
		}
	}
	if onPrimary > 0 {
		t.Errorf("after one write, %d of 10 reads of the session ran on the primary (reader fallbacks %d -> %d); "+
			"statements of app that failed on the secondaries:%s",
			onPrimary, fallbacks, a.Stats.ReaderFallbacks.Load(), failedStatements(t, 2, 3))
	}

	// Other sessions now get the writer connection that served the INSERT.
	errs := tally{}
	other := openProxy(t, a, "app")
	other.SetMaxIdleConns(0) // a new session for every command
	for range 5 {
		if err := other.PingContext(ctx); err != nil {
			errs.add(fmt.Errorf("COM_PING: %w", err))
		}
		if _, err := other.ExecContext(ctx, "INSERT INTO app.lag (v) VALUES (2)"); err != nil {
			errs.add(fmt.Errorf("INSERT: %w", err))
		}
	}
	if errs.total() > 0 {
		t.Errorf("new sessions after another session's write: %d of 10 commands failed:%s\nstatements of app that failed on the primary:%s",
			errs.total(), errs, failedStatements(t, 1))
	}
}

// failedStatements lists the recent statements of user app that failed on
// the given members (performance_schema.events_statements_history).
func failedStatements(t *testing.T, members ...int) string {
	t.Helper()
	var b strings.Builder
	for _, n := range members {
		out, err := grp.SQL(n, `SELECT h.SQL_TEXT, h.MYSQL_ERRNO, h.MESSAGE_TEXT
			FROM performance_schema.events_statements_history h JOIN performance_schema.threads th USING (THREAD_ID)
			WHERE th.PROCESSLIST_USER = 'app' AND h.MYSQL_ERRNO <> 0 ORDER BY h.EVENT_ID DESC LIMIT 3`)
		require.NoError(t, err)
		for line := range strings.Lines(out) {
			fmt.Fprintf(&b, "\n    member%d: %s", n, strings.ReplaceAll(strings.TrimSpace(line), "\t", " | "))
		}
	}
	return b.String()
}

// TestSwitchover: after group_replication_set_as_primary moves the primary
// to member 2, the proxy's writer follows within two monitor intervals and
// a write through the proxy lands there; a session that wrote before the
// switch can write after it.
func TestSwitchover(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	a, _ := startProxy(t, 1, nil)
	waitLayout(t, a, 1)
	t.Cleanup(func() { _, _ = grp.Run("mgr-switch", "1") })
	wdb := writerDB(t, a)
	// A session that keeps its connection to the proxy, as applications
	// do, through a second proxy with the default pool settings.
	b, _ := startProxy(t, 1, defaultPool)
	waitLayout(t, b, 1)
	sess := proxyDB(t, b)
	sess.SetMaxOpenConns(1)
	for range 3 {
		port, _, err := write(context.Background(), sess)
		require.NoError(t, err)
		require.Equal(t, grp.Ports[0], port)
	}

	start := time.Now()
	_, err := grp.Run("mgr-switch", "2")
	require.NoError(t, err)
	switched := time.Now()
	var placed time.Time
	errs := tally{}
	var landed time.Duration
	for {
		if placed.IsZero() && onlineIn(health(a, 2), hgWriter) {
			placed = time.Now()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		port, _, err := write(ctx, wdb)
		cancel()
		if err != nil {
			errs.add(err)
		} else if port == grp.Ports[1] {
			landed = time.Since(switched)
			break
		}
		if time.Since(switched) > 10*time.Second {
			t.Fatalf("no write reached member2 within 10s of the switch; errors:%s\nmonitor:%s", errs, describe(a))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if placed.IsZero() {
		placed = time.Now()
	}
	t.Logf("mgr-switch 2 took %s; the proxy placed member2 as writer %s and a new session's write landed there %s after it returned; %d writes failed meanwhile:%s",
		ms(switched.Sub(start)), ms(placed.Sub(switched)), ms(landed), errs.total(), errs)
	require.LessOrEqual(t, landed, 2*interval, "writes reached the new primary later than 2 monitor intervals")
	waitLayout(t, a, 2)

	// The long-lived session that wrote on member1, once its proxy too has
	// moved the writer.
	waitLayout(t, b, 2)
	errs = tally{}
	var port int
	for range 5 {
		if port, _, err = write(context.Background(), sess); err == nil {
			break
		}
		errs.add(err)
	}
	if err != nil || port != grp.Ports[1] {
		t.Errorf("a session that wrote before the switchover cannot write after it (last port %d); errors:%s\nstatements of app that failed on member2:%s",
			port, errs, failedStatements(t, 2))
	}
}

// TestLagShunsReader: a secondary whose applier queue exceeds
// max_transactions_behind (10) gets no reads until it has caught up.
func TestLagShunsReader(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	a, rdb := startProxy(t, 1, nil)
	waitLayout(t, a, 1)
	wdb := writerDB(t, a)

	const lockSecs = 8
	_, err := grp.Run("mgr-lag", "3", strconv.Itoa(lockSecs))
	require.NoError(t, err)
	locked := time.Now()
	for i := range 40 {
		_, err := wdb.Exec("INSERT INTO app.lag (v) VALUES (?)", i)
		require.NoError(t, err)
	}
	waitFor(t, a, "member3 shunned for its applier queue", lockSecs*time.Second, func() bool {
		sh := health(a, 3)
		return !onlineIn(sh, hgReader) && sh.GroupReplication != nil && sh.GroupReplication.TransactionsBehind > 10
	})
	sh := health(a, 3)
	t.Logf("member3 shunned %s after the lock (transactions_behind=%d):%s",
		ms(time.Since(locked)), sh.GroupReplication.TransactionsBehind, describe(a))
	require.True(t, placedIn(sh, hgReader), "a lagging secondary stays in the reader hostgroup, shunned")
	seen := readPorts(t, rdb, 20)
	require.Equal(t, map[int]int{grp.Ports[1]: 20}, seen, "reads while member3 lags")

	waitFor(t, a, "member3 back in the reader hostgroup", (lockSecs+20)*time.Second, func() bool {
		sh := health(a, 3)
		return onlineIn(sh, hgReader) && sh.GroupReplication != nil && sh.GroupReplication.TransactionsBehind == 0
	})
	t.Logf("member3 ONLINE again %s after the lock was taken (held %ds)", ms(time.Since(locked)), lockSecs)
	require.Eventually(t, func() bool { return readPorts(t, rdb, 10)[grp.Ports[2]] > 0 },
		30*time.Second, 100*time.Millisecond, "reads never reached member3 again")
	var n int
	require.NoError(t, memberDB(t, 3).QueryRow("SELECT COUNT(*) FROM app.lag").Scan(&n))
	require.GreaterOrEqual(t, n, 40)
}

// TestMemberStates: a secondary that is OFFLINE (group replication
// stopped), RECOVERING (its recovery cannot log in to a donor) or in ERROR
// (recovery gave up; MySQL then also sets offline_mode, so the monitor
// cannot even log in) is moved to the offline hostgroup and gets no reads;
// back ONLINE it is a reader again.
func TestMemberStates(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	a, rdb := startProxy(t, 1, nil)
	waitLayout(t, a, 1)
	wdb := writerDB(t, a)
	restore := "STOP GROUP_REPLICATION; SET GLOBAL group_replication_recovery_retry_count=10; " +
		"SET GLOBAL group_replication_recovery_reconnect_interval=60; SET GLOBAL offline_mode=OFF; " +
		"CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD='repl' FOR CHANNEL 'group_replication_recovery'"
	t.Cleanup(func() { // after a failure: member3 back ONLINE for the next tests
		if m := groupStatus(t)[2]; m.State == "ONLINE" && m.OfflineMode == "0" {
			return
		}
		if _, err := grp.SQL(3, restore+"; START GROUP_REPLICATION"); err != nil {
			t.Logf("restoring member3: %v", err)
		}
	})
	sql3 := func(sql string) {
		t.Helper()
		_, err := grp.SQL(3, sql)
		require.NoError(t, err)
	}
	offline := func(state string, cond func() bool) {
		t.Helper()
		d := waitFor(t, a, "member3 "+state+" in the offline hostgroup", 30*time.Second, func() bool {
			sh := health(a, 3)
			return cond() && placedIn(sh, hgOffline) && !onlineIn(sh, hgReader) && !onlineIn(sh, hgWriter)
		})
		t.Logf("member3 %s: in hostgroup %d after %s:%s", state, hgOffline, ms(d), describe(a))
		seen := readPorts(t, rdb, 10)
		require.Equal(t, map[int]int{grp.Ports[1]: 10}, seen, "reads while member3 is %s", state)
		port, _, err := write(context.Background(), wdb)
		require.NoError(t, err)
		require.Equal(t, grp.Ports[0], port)
	}
	grState := func(want string) func() bool {
		return func() bool {
			g := health(a, 3).GroupReplication
			return g != nil && g.State == want
		}
	}

	sql3("STOP GROUP_REPLICATION")
	offline("OFFLINE", grState("OFFLINE"))

	// The write above is a transaction member3 misses; its recovery now
	// cannot log in to a donor and retries every 60 s: RECOVERING.
	sql3("CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD='wrong' FOR CHANNEL 'group_replication_recovery'; START GROUP_REPLICATION")
	offline("RECOVERING", grState("RECOVERING"))
	sh1 := health(a, 1)
	require.Equal(t, 3, sh1.GroupReplication.ViableMembers, "the primary counts a RECOVERING member as viable")
	require.True(t, onlineIn(sh1, hgWriter))

	// One failed round of recovery, then the member gives up: ERROR, and
	// group_replication_exit_state_action=OFFLINE_MODE refuses the monitor.
	sql3("STOP GROUP_REPLICATION; SET GLOBAL group_replication_recovery_retry_count=1; " +
		"SET GLOBAL group_replication_recovery_reconnect_interval=0; START GROUP_REPLICATION")
	offline("ERROR", func() bool {
		sh := health(a, 3)
		return sh.GroupReplication != nil && sh.GroupReplication.State == "ERROR" ||
			strings.Contains(sh.PingError, "offline mode")
	})

	sql3(restore + "; START GROUP_REPLICATION")
	d := waitFor(t, a, "member3 back in the reader hostgroup", 30*time.Second, func() bool {
		return onlineIn(health(a, 3), hgReader)
	})
	t.Logf("member3 ONLINE again, a reader after %s", ms(d))
	require.Eventually(t, func() bool { return readPorts(t, rdb, 10)[grp.Ports[2]] > 0 },
		30*time.Second, 100*time.Millisecond, "reads never reached member3 again")
}

// defaultPool undoes mgrConfig's workaround for the statement_id bug.
func defaultPool(c *config.Config) { c.Pool.MaxLifetime = config.Defaults().Pool.MaxLifetime }

// failoverWrite is one INSERT of a writer loop in TestPrimaryKilled.
type failoverWrite struct {
	seq        int
	start, end time.Time
	err        error
}

// writerLoop inserts seq, seq+1, ... through db, 20 ms apart, until stop.
func writerLoop(db *sql.DB, seq int, stop <-chan struct{}) <-chan []failoverWrite {
	out := make(chan []failoverWrite, 1)
	go func() {
		var res []failoverWrite
		defer func() { out <- res }()
		for ; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			start := time.Now()
			_, err := db.ExecContext(ctx, "INSERT INTO app.failover (seq, port) VALUES (?, @@port)", seq)
			cancel()
			res = append(res, failoverWrite{seq, start, time.Now(), err})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return out
}

// TestPrimaryKilled: SIGKILL of the primary. The group elects a new one;
// the proxy moves the writer there; writes issued once the proxy knows the
// old primary is gone wait in the failover buffer instead of failing; no
// acknowledged write is lost. Two writers run: "fresh" opens a session per
// INSERT through a proxy that never reuses backend connections (unaffected
// by the statement_id bug, see TestReadAfterWrite); "kept" keeps one
// session, as applications do, through a proxy with default settings. Then
// the old primary is restarted and rejoins as a reader (it is never a
// writer or a reader while not ONLINE).
func TestPrimaryKilled(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	a, _ := startProxy(t, 1, nil)
	waitLayout(t, a, 1)
	_, err := grp.SQL(1, "TRUNCATE app.failover")
	require.NoError(t, err)
	// The long-lived session goes through a second proxy with the default
	// pool settings.
	b, _ := startProxy(t, 1, defaultPool)
	waitLayout(t, b, 1)
	kept := proxyDB(t, b)
	kept.SetMaxOpenConns(1)
	survivors := []*sql.DB{memberDB(t, 2), memberDB(t, 3)}

	stop := make(chan struct{})
	stopOnce := sync.OnceFunc(func() { close(stop) })
	defer stopOnce()
	freshRes := writerLoop(writerDB(t, a), 1, stop)
	keptRes := writerLoop(kept, 1_000_001, stop)

	// The proxies' view, polled every 5 ms from before the kill: when
	// member1 stops being a usable writer, when another member becomes one.
	var shunned, shunnedB, routed, routedB time.Time
	newWriter := 0
	watchCtx, stopWatching := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopWatching()
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		for watchCtx.Err() == nil && (routed.IsZero() || routedB.IsZero()) {
			now := time.Now()
			if shunned.IsZero() && !onlineIn(health(a, 1), hgWriter) {
				shunned = now
			}
			if shunnedB.IsZero() && !onlineIn(health(b, 1), hgWriter) {
				shunnedB = now
			}
			for _, n := range []int{2, 3} {
				if routed.IsZero() && onlineIn(health(a, n), hgWriter) {
					routed, newWriter = now, n
				}
				if routedB.IsZero() && onlineIn(health(b, n), hgWriter) {
					routedB = now
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	// The election as the survivors report it (polled directly from before
	// the kill).
	type election struct {
		at     time.Time
		member int
	}
	elected := make(chan election, 1)
	pollCtx, stopPoll := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopPoll()
	go func() {
		for pollCtx.Err() == nil {
			for _, mdb := range survivors {
				var port int
				err := mdb.QueryRowContext(pollCtx, `SELECT MEMBER_PORT FROM performance_schema.replication_group_members
					WHERE MEMBER_ROLE='PRIMARY' AND MEMBER_STATE='ONLINE' AND MEMBER_PORT <> ?`, grp.Ports[0]).Scan(&port)
				if err == nil {
					elected <- election{time.Now(), grp.Member(port)}
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	killed := time.Now() // SIGKILL is sent within a few ms of this
	_, err = grp.Run("mgr-kill", "1")
	require.NoError(t, err)
	killDone := time.Now()

	<-watching
	if routed.IsZero() || routedB.IsZero() {
		t.Fatalf("no new writer in the proxies within 60s; monitor:%s", describe(a))
	}
	var el election
	select {
	case el = <-elected:
		require.Equal(t, newWriter, el.member, "the proxy's writer is not the member the group elected")
	case <-time.After(10 * time.Second):
		t.Fatalf("the proxy has writer member%d but no survivor reports an ONLINE PRIMARY", newWriter)
	}
	time.Sleep(2 * time.Second) // writes on the new primary for a while
	stopOnce()
	fresh, keptW := <-freshRes, <-keptRes

	rows := map[int]int{} // seq -> port that ran it
	r, err := memberDB(t, newWriter).Query("SELECT seq, port FROM app.failover")
	require.NoError(t, err)
	for r.Next() {
		var seq, port int
		require.NoError(t, r.Scan(&seq, &port))
		rows[seq] = port
	}
	require.NoError(t, r.Err())
	_ = r.Close()

	t.Logf("mgr-kill returned after %s; the group elected member%d %s after the kill; the proxy's monitor took member1 out of the writer hostgroup after %s "+
		"and placed member%d as writer after %s (%s after the election; second proxy: %s and %s)",
		ms(killDone.Sub(killed)), newWriter, ms(el.at.Sub(killed)), ms(shunned.Sub(killed)), newWriter,
		ms(routed.Sub(killed)), ms(routed.Sub(el.at)), ms(shunnedB.Sub(killed)), ms(routedB.Sub(killed)))
	type summary struct {
		acked, lost, failedAfterShun int
		firstOnNew                   time.Time
		maxWait                      time.Duration
		errs                         tally
	}
	sum := func(name string, ws []failoverWrite, shunned time.Time) summary {
		s := summary{errs: tally{}}
		for _, w := range ws {
			if w.err != nil {
				s.errs.add(fmt.Errorf("%s (issued at kill%+dms)", w.err, w.start.Sub(killed).Round(500*time.Millisecond).Milliseconds()))
				if w.start.After(shunned) {
					s.failedAfterShun++
				}
				continue
			}
			s.acked++
			port, ok := rows[w.seq]
			if !ok {
				s.lost++
				t.Errorf("%s: acknowledged write seq %d (at kill%+dms) is not on the new primary", name, w.seq, w.end.Sub(killed).Milliseconds())
			}
			if port == grp.Ports[newWriter-1] && s.firstOnNew.IsZero() {
				s.firstOnNew = w.end
			}
			s.maxWait = max(s.maxWait, w.end.Sub(w.start))
		}
		first := "never"
		if !s.firstOnNew.IsZero() {
			first = ms(s.firstOnNew.Sub(killed)) + " after the kill"
		}
		t.Logf("%s writer: %d writes, %d acknowledged, %d lost, %d failed (%d started after the proxy shunned member1); "+
			"longest acknowledged write %s; first acknowledged by member%d %s; errors (time rounded):%s",
			name, len(ws), s.acked, s.lost, s.errs.total(), s.failedAfterShun, ms(s.maxWait), newWriter, first, s.errs)
		return s
	}
	fs, ks := sum("fresh", fresh, shunned), sum("kept", keptW, shunnedB)
	require.Zero(t, fs.lost+ks.lost, "acknowledged writes lost")
	require.False(t, fs.firstOnNew.IsZero(), "no write reached the new primary")
	require.Zero(t, fs.failedAfterShun, "writes issued while the writer hostgroup was empty must wait for the new primary (failover_buffer 15s), not fail")
	require.LessOrEqual(t, routed.Sub(el.at), 2*interval+grace, "the proxy followed the election late")
	require.LessOrEqual(t, routedB.Sub(el.at), 2*interval+grace, "the second proxy followed the election late")
	if ks.failedAfterShun > 0 || ks.firstOnNew.IsZero() {
		t.Errorf("the long-lived session could not write on the new primary: %d writes failed after the shun (statement_id bug, TestReadAfterWrite)", ks.failedAfterShun)
	}

	// Rejoin the old primary: while it is not ONLINE it must not be a
	// writer or a reader.
	var states, bad []string
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(10 * time.Millisecond):
			}
			sh := health(a, 1)
			st := "-"
			if g := sh.GroupReplication; g != nil {
				st = g.State
			}
			if sh.PingError != "" {
				st += "(ping failing)"
			}
			if len(states) == 0 || states[len(states)-1] != st {
				states = append(states, st)
			}
			if !strings.HasPrefix(st, "ONLINE") && (onlineIn(sh, hgWriter) || onlineIn(sh, hgReader)) {
				bad = append(bad, fmt.Sprintf("state %s placed %v", st, sh.Backends))
			}
		}
	}()
	rejoinStart := time.Now()
	_, err = grp.Run("mgr-start", "1")
	require.NoError(t, err)
	rejoined := time.Since(rejoinStart)
	d := waitFor(t, a, "member1 a reader again", 30*time.Second, func() bool { return onlineIn(health(a, 1), hgReader) })
	close(stopWatch)
	<-watched
	t.Logf("mgr-start 1 (restart and rejoin) took %s; member1 a reader %s later; monitor states seen: %v", ms(rejoined), ms(d), states)
	require.Empty(t, bad, "member1 was used while not ONLINE")
	require.True(t, onlineIn(health(a, newWriter), hgWriter), "the writer changed when the old primary came back")
}

// TestQuorumLoss: two of three members die. The survivor, the primary,
// stays ONLINE PRIMARY with super_read_only=OFF but sees the two others
// UNREACHABLE: it has no majority and would block every commit. The proxy
// must take it out of the writer hostgroup; a write then fails with a clear
// error after failover_buffer instead of running there.
func TestQuorumLoss(t *testing.T) {
	needGroup(t)
	ms0 := ensureGroup(t)
	p := primaryOf(ms0)
	require.NotZero(t, p)
	a, rdb := startProxy(t, p, nil)
	waitLayout(t, a, p)
	wdb := writerDB(t, a)
	var before int
	require.NoError(t, memberDB(t, p).QueryRow("SELECT COUNT(*) FROM app.rw").Scan(&before))

	killed := time.Now()
	for n := 1; n <= 3; n++ {
		if n != p {
			_, err := grp.Run("mgr-kill", strconv.Itoa(n))
			require.NoError(t, err)
		}
	}
	waitFor(t, a, fmt.Sprintf("member%d out of the writer hostgroup", p), 30*time.Second, func() bool {
		sh := health(a, p)
		return !placedIn(sh, hgWriter) && placedIn(sh, hgOffline)
	})
	d := time.Since(killed)
	sh := health(a, p)
	t.Logf("member%d (the survivor) moved to the offline hostgroup %s after the kills:%s", p, ms(d), describe(a))
	require.NotNil(t, sh.GroupReplication)
	require.False(t, sh.GroupReplication.Quorum)
	require.Equal(t, 1, sh.GroupReplication.ViableMembers)
	require.Equal(t, 3, sh.GroupReplication.Members)
	view, err := grp.SQL(p, "SELECT MEMBER_PORT, MEMBER_STATE, MEMBER_ROLE, @@global.super_read_only FROM performance_schema.replication_group_members ORDER BY MEMBER_PORT")
	require.NoError(t, err)
	t.Logf("the survivor's view (port, state, role, super_read_only):\n%s", view)
	require.Equal(t, 2, strings.Count(view, "UNREACHABLE"), view)

	// Three clients at once: a write and a read through sessions that exist
	// already, and a new session naming a default schema. Each must wait
	// failover_buffer for a writer, then fail with 9001.
	login := openProxy(t, a, "app")
	type outcome struct {
		what string
		took time.Duration
		err  error
	}
	cases := map[string]func(ctx context.Context) error{
		"INSERT (write)": func(ctx context.Context) error {
			_, err := wdb.ExecContext(ctx, "INSERT INTO app.rw (port, uuid) VALUES (@@port, @@server_uuid)")
			return err
		},
		"SELECT (read; no reader left, falls back to the writer)": func(ctx context.Context) error {
			var port int
			return rdb.QueryRowContext(ctx, "SELECT @@port").Scan(&port)
		},
		"login naming schema app": func(ctx context.Context) error { return login.PingContext(ctx) },
	}
	out := make(chan outcome, len(cases))
	for what, run := range cases {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			start := time.Now()
			err := run(ctx)
			out <- outcome{what, time.Since(start), err}
		}()
	}
	for range cases {
		o := <-out
		t.Logf("%s through the proxy: after %s: %v", o.what, ms(o.took), o.err)
		require.Error(t, o.err, "%s succeeded on a group without quorum", o.what)
		var me *mysql.MySQLError
		require.True(t, errors.As(o.err, &me), "%s: not a server error: %v", o.what, o.err)
		require.Equal(t, protocol.ErrCodeNoBackend, me.Number, "%s: %v", o.what, o.err)
		require.Contains(t, me.Message, "no writer available in hostgroup 10 after waiting")
		require.Less(t, o.took, 25*time.Second)
		if o.took < 14*time.Second {
			// session/query.go checkDB: the handshake's schema is checked
			// with acquire, not acquireWriter.
			t.Errorf("%s failed after %s, before failover_buffer (15s) ran out", o.what, ms(o.took))
		}
	}
	var after int
	require.NoError(t, memberDB(t, p).QueryRow("SELECT COUNT(*) FROM app.rw").Scan(&after))
	require.Equal(t, before, after, "a row reached the survivor")
}

// TestReadYourWritesGroup: with the default read_your_writes (scope user)
// a row one connection inserted is read by another connection of the same
// user while both secondaries apply nothing: the GTID comes from MySQL's
// session_track_gtids (OWN_GTID), WAIT_FOR_EXECUTED_GTID_SET times out on
// the secondaries, and the read runs on the primary.
func TestReadYourWritesGroup(t *testing.T) {
	needGroup(t)
	healthyWithPrimary(t, 1)
	a, rdb := startProxy(t, 1, func(c *config.Config) {
		c.Users[0].Consistency = config.ConsistencyReadYourWrites
		c.Users[0].ConsistencyScope = config.ScopeUser
		c.Users[0].ReadYourWritesTimeout = 300 * time.Millisecond
	})
	waitLayout(t, a, 1)
	wdb := writerDB(t, a)
	const lockSecs = 8
	for _, n := range []string{"2", "3"} {
		_, err := grp.Run("mgr-lag", n, strconv.Itoa(lockSecs))
		require.NoError(t, err)
	}
	locked := time.Now()
	ctx := context.Background()
	for i := range 3 {
		res, err := wdb.ExecContext(ctx, "INSERT INTO app.lag (v) VALUES (?)", 7000+i)
		require.NoError(t, err)
		id, err := res.LastInsertId()
		require.NoError(t, err)
		var n, port int
		require.NoError(t, rdb.QueryRowContext(ctx, "SELECT COUNT(*), @@port FROM app.lag WHERE id = ?", id).Scan(&n, &port))
		require.Equal(t, 1, n, "insert %d not seen by another connection of the user (port %d)", id, port)
		if time.Since(locked) < (lockSecs-2)*time.Second {
			require.Equal(t, grp.Ports[0], port, "the locked secondaries cannot have applied it")
		}
	}
	require.Positive(t, a.Stats.RYWWaits.Load(), "no WAIT_FOR_EXECUTED_GTID_SET")
	require.GreaterOrEqual(t, a.Stats.RYWFallbacks.Load(), uint64(1))
	waitFor(t, a, "the secondaries caught up", (lockSecs+20)*time.Second, func() bool {
		for _, m := range []int{2, 3} {
			sh := health(a, m)
			if !onlineIn(sh, hgReader) || sh.GroupReplication == nil || sh.GroupReplication.TransactionsBehind != 0 {
				return false
			}
		}
		return true
	})
	// Caught up: the next read after a write is served by a secondary.
	_, err := wdb.ExecContext(ctx, "INSERT INTO app.lag (v) VALUES (7100)")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var port int
		require.NoError(t, rdb.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
		return port != grp.Ports[0]
	}, 30*time.Second, 50*time.Millisecond, "reads never went back to the secondaries")
}
