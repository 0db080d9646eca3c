package mgr

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/session"
)

// Issue #21, transaction replay on the real Group Replication group: the
// primary is SIGKILLed three times in a row (restarted and rejoined in
// between) under sysbench oltp_read_write (8 threads, prepared
// statements) and two writers of our own that keep a write log. What the
// test holds rwproxy to:
//   - no acknowledged transaction is lost and none is applied twice (every
//     row of the write log's transactions is checked);
//   - a transaction in flight on the killed primary never fails: it is
//     replayed on the new primary. A COMMIT whose answer the kill
//     swallowed is resolved by the commit check
//     (transaction_replay_commit_check, session/commitcheck.go): its
//     marker row read on the new primary says whether it committed (OK)
//     or not (replayed there), so no 9020 reaches a client. sysbench runs
//     with its default --mysql-ignore-errors (1213,1020,1205: 9020 would
//     stop it), and our writers see no COMMIT in doubt; a COMMIT answered
//     1213 (the replay's results differed) must have left no row, as 1213
//     promises a rollback;
//   - the time from each kill to the first write served after it (the
//     first transaction begun once the member is dead to be acknowledged).

// txWriter runs transactions through the proxy: INSERT part 1, a read of
// it, INSERT part 2, COMMIT; each with its own id, recorded by outcome.
type txWriter struct {
	mu         sync.Mutex
	acked      []int64        // COMMIT answered OK
	inDoubt    []int64        // COMMIT failed, other than 1213: 0 or 2 rows
	commit1213 []int64        // COMMIT answered 1213 (a replay whose results differed): 0 rows
	failed     []int64        // failed before COMMIT: 0 rows
	early      []string       // errors before COMMIT other than 1213
	ackTimes   [][2]time.Time // start and end of each acknowledged transaction
	deadlocks  int            // 1213 (replay checksum mismatch, or a real deadlock)
	next       atomic.Int64
}

func (w *txWriter) run(ctx context.Context, db *sql.DB) {
	for ctx.Err() == nil {
		id := w.next.Add(1)
		start := time.Now()
		stage, err := w.one(ctx, db, id)
		now := time.Now()
		w.mu.Lock()
		var me *mysql.MySQLError
		switch {
		case err == nil:
			w.acked = append(w.acked, id)
			w.ackTimes = append(w.ackTimes, [2]time.Time{start, now})
		case stage == "commit" && errors.As(err, &me) && me.Number == 1213:
			w.commit1213 = append(w.commit1213, id)
			w.deadlocks++
		case stage == "commit":
			w.inDoubt = append(w.inDoubt, id)
		default:
			w.failed = append(w.failed, id)
			if errors.As(err, &me) && me.Number == 1213 {
				w.deadlocks++
			} else if ctx.Err() == nil {
				w.early = append(w.early, fmt.Sprintf("%s: %v", stage, err))
			}
		}
		w.mu.Unlock()
	}
}

func (w *txWriter) one(ctx context.Context, db *sql.DB, id int64) (string, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "begin", err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "INSERT INTO app.txlog (id, part) VALUES (?, 1)", id); err != nil {
		return "insert 1", err
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM app.txlog WHERE id = ?", id).Scan(&n); err != nil {
		return "select", err
	}
	if n != 1 {
		return "select", fmt.Errorf("read %d rows of id %d in its own transaction", n, id)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO app.txlog (id, part) VALUES (?, 2)", id); err != nil {
		return "insert 2", err
	}
	return "commit", tx.Commit()
}

// firstAckAfter returns the first acknowledgement of a transaction that
// began at or after t.
func (w *txWriter) firstAckAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, at := range w.ackTimes {
		if !at[0].Before(t) && (first.IsZero() || at[1].Before(first)) {
			first = at[1]
		}
	}
	return first, !first.IsZero()
}

// sysbenchFigures parses sysbench's summary.
func sysbenchFigures(out string) (txns, ignored, reconnects int) {
	num := func(re string) int {
		if m := regexp.MustCompile(re).FindStringSubmatch(out); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return -1
	}
	return num(`transactions:\s+(\d+)`), num(`ignored errors:\s+(\d+)`), num(`reconnects:\s+(\d+)`)
}

func TestReplaySysbenchPrimaryKilledThreeTimes(t *testing.T) {
	prepareSysbench(t, "CREATE TABLE IF NOT EXISTS app.txlog (pk BIGINT AUTO_INCREMENT PRIMARY KEY, "+
		"id BIGINT NOT NULL, part INT NOT NULL, KEY (id)); TRUNCATE app.txlog; "+
		"CREATE TABLE IF NOT EXISTS app.rwproxy_commit (node VARCHAR(128) NOT NULL, session BIGINT UNSIGNED NOT NULL, "+
		"seq BIGINT UNSIGNED NOT NULL, updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, "+
		"PRIMARY KEY (node, session))")
	// The commit check reads the new primary, which answers only once it
	// applied the old one's backlog: the group's default consistency.
	for n := 1; n <= 3; n++ {
		var c string
		require.NoError(t, memberDB(t, n).QueryRow("SELECT @@GLOBAL.group_replication_consistency").Scan(&c))
		require.Equal(t, "BEFORE_ON_PRIMARY_FAILOVER", c, "member%d", n)
	}

	a, _ := startProxy(t, 1, func(c *config.Config) {
		defaultPool(c)
		c.TransactionReplayCommitCheck = "app.rwproxy_commit"
	})
	waitLayout(t, a, 1)
	db := proxyDB(t, a)
	db.SetMaxOpenConns(4)
	w := &txWriter{}
	wctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { w.run(wctx, db) })
	}
	defer func() { stopWriters(); wg.Wait() }()

	primary := 1
	var report []string
	for round := 1; round <= 3; round++ {
		primary = killRound(t, a, w, primary, round, &report)
	}
	stopWriters()
	wg.Wait()

	// The write log: every acknowledged transaction's two rows exactly
	// once, a transaction whose COMMIT failed all or nothing, the others
	// nothing.
	counts := map[int64][2]int{}
	rows, err := memberDB(t, primary).Query("SELECT id, part FROM app.txlog")
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var part int
		require.NoError(t, rows.Scan(&id, &part))
		c := counts[id]
		c[part-1]++
		counts[id] = c
	}
	require.NoError(t, rows.Err())
	_ = rows.Close()
	for _, id := range w.acked {
		require.Equal(t, [2]int{1, 1}, counts[id], "acknowledged transaction %d: rows of parts 1 and 2", id)
	}
	doubtCommitted := 0
	for _, id := range w.inDoubt {
		c := counts[id]
		require.Contains(t, [][2]int{{0, 0}, {1, 1}}, c, "transaction %d whose COMMIT failed: all or nothing", id)
		doubtCommitted += c[0]
	}
	for _, id := range w.failed {
		require.Equal(t, [2]int{0, 0}, counts[id], "transaction %d failed before its COMMIT yet has rows", id)
	}
	// 1213 promises a rollback: a lost COMMIT the commit check found not
	// committed was replayed, its results differed, and nothing of it may
	// be on the new primary (drivers and sysbench retry 1213).
	for _, id := range w.commit1213 {
		require.Equal(t, [2]int{0, 0}, counts[id], "transaction %d was answered 1213 at COMMIT yet has rows", id)
	}
	for id, c := range counts {
		require.LessOrEqual(t, c[0], 1, "transaction %d applied twice", id)
		require.LessOrEqual(t, c[1], 1, "transaction %d applied twice", id)
	}
	require.Empty(t, w.early, "a transaction failed on a statement before its COMMIT (not replayed)")
	require.Empty(t, w.inDoubt, "a COMMIT failed (the commit check resolves a lost one)")

	rs := &a.Stats.Replay
	failed := make([]string, 0, len(session.ReplayFailureNames))
	for i, n := range session.ReplayFailureNames {
		failed = append(failed, fmt.Sprintf("%s=%d", n, rs.Failed[i].Load()))
	}
	t.Logf("3 kills:\n%s\nwriters: %d acknowledged, %d COMMITs in doubt (%d of them committed), %d failed before COMMIT "+
		"(%d deadlock-class 1213)\nreplays: %d started, %d succeeded, %d checksum mismatches; not replayed: %s\n"+
		"commit checks: %d (%d found committed, %d replayed), %d marker errors",
		strings.Join(report, "\n"), len(w.acked), len(w.inDoubt), doubtCommitted, len(w.failed), w.deadlocks,
		rs.Started.Load(), rs.Succeeded.Load(), rs.Mismatches.Load(), strings.Join(failed, " "),
		rs.CommitChecks.Load(), rs.CommitsFound.Load(), rs.CommitsReplayed.Load(), rs.MarkerErrors.Load())
	require.NotZero(t, rs.Succeeded.Load(), "no transaction was replayed in three kills")
	require.Zero(t, rs.Failed[session.ReplayNoServer].Load()+rs.Failed[session.ReplayTimeout].Load()+
		rs.Failed[session.ReplayServerLost].Load()+rs.Failed[session.ReplayReadOnly].Load()+
		rs.Failed[session.ReplayCommitInDoubt].Load()+rs.Failed[session.ReplayCheckFailed].Load(),
		"a replay failed: %s", strings.Join(failed, " "))
	require.Zero(t, rs.MarkerErrors.Load(), "the marker statement failed")
}

// watchElection polls the members other than killed (as the monitor
// user, every 20 ms, from now on) for an ONLINE PRIMARY other than
// killed; the returned function stops the polling and returns when one
// was first seen (zero if never). A measurement only: nothing waits on it.
func watchElection(t *testing.T, killed int) func() time.Time {
	t.Helper()
	q := "SELECT COUNT(*) FROM performance_schema.replication_group_members WHERE MEMBER_ROLE = 'PRIMARY' " +
		"AND MEMBER_STATE = 'ONLINE' AND MEMBER_PORT <> " + strconv.Itoa(grp.Ports[killed-1])
	var ws []*testkit.Watch
	for n := 1; n <= 3; n++ {
		if n == killed {
			continue
		}
		db, err := sql.Open("mysql", "monitor:monitor@tcp("+grp.Addr(n)+")/?timeout=2s&readTimeout=2s")
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		ws = append(ws, testkit.StartWatch(20*time.Millisecond, func(wctx context.Context) bool {
			var c int
			return db.QueryRowContext(wctx, q).Scan(&c) == nil && c > 0
		}))
	}
	return func() time.Time {
		var first time.Time
		for _, w := range ws {
			if at := w.Stop(); !at.IsZero() && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
		return first
	}
}

func sinceOrNever(from, at time.Time) string {
	if at.IsZero() {
		return "never (not seen)"
	}
	return ms(at.Sub(from))
}

func afterOrNever(elected, at time.Time) string {
	if elected.IsZero() {
		return "?"
	}
	return ms(at.Sub(elected))
}

// killRound runs sysbench, SIGKILLs the primary once sysbench is under
// way, records the time to the first write served after the kill, waits
// for sysbench, then restarts the killed member and waits for it to
// rejoin. It returns the new primary.
func killRound(t *testing.T, a *app.App, w *txWriter, primary, round int, report *[]string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sysbench", append(sysbenchArgs(a.Addr(), "oltp_read_write"),
		"--threads=8", "--time=30", "--report-interval=0",
		"--mysql-ignore-errors=1213,1020,1205", "run")...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	q0 := a.Stats.Queries.Load()
	waitFor(t, a, "sysbench under way", time.Minute, func() bool { return a.Stats.Queries.Load() > q0+3000 })
	elected := watchElection(t, primary)
	killed := time.Now() // mgr-kill sends SIGKILL within a few ms
	_, err := grp.Run("mgr-kill", strconv.Itoa(primary))
	require.NoError(t, err)
	dead := time.Now() // mgr-kill returned: the member is gone
	var newPrimary int
	routed := waitFor(t, a, "a new writer", time.Minute, func() bool {
		for n := 1; n <= 3; n++ {
			if n != primary && onlineIn(health(a, n), hgWriter) {
				newPrimary = n
				return true
			}
		}
		return false
	})
	routedAt := time.Now()
	var firstWrite time.Time
	waitFor(t, a, "a write acknowledged after the kill", time.Minute, func() bool {
		var ok bool
		firstWrite, ok = w.firstAckAfter(dead)
		return ok
	})
	electedAt := elected()
	err = <-done
	out := buf.String()
	require.NoError(t, err, "round %d: sysbench failed:\n%s\nmonitor:%s", round, out, describe(a))
	require.NotContains(t, out, "FATAL", "round %d", round)
	txns, ignored, reconnects := sysbenchFigures(out)
	*report = append(*report, fmt.Sprintf("  kill %d (member%d): mgr-kill took %s; then the new writer in the proxy after %s, "+
		"the first write served (a transaction begun after that, acknowledged) after %s; "+
		"sysbench %d transactions, %d ignored errors, %d reconnects", round, primary, ms(dead.Sub(killed)), ms(routed),
		ms(firstWrite.Sub(dead)), txns, ignored, reconnects))
	*report = append(*report, fmt.Sprintf("    from the SIGKILL: a survivor reports the new ONLINE PRIMARY at %s, "+
		"the proxy's writer at %s (%s after the election), the first write served at %s",
		sinceOrNever(killed, electedAt), ms(routedAt.Sub(killed)), afterOrNever(electedAt, routedAt), ms(firstWrite.Sub(killed))))

	_, err = grp.Run("mgr-start", strconv.Itoa(primary))
	require.NoError(t, err, "restarting member%d", primary)
	waitFor(t, a, fmt.Sprintf("member%d rejoined as a reader", primary), 2*time.Minute, func() bool {
		return onlineIn(health(a, primary), hgReader)
	})
	return newPrimary
}
