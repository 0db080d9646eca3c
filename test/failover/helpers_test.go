package failover

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/topology"
)

// interval is every monitor check's interval in these tests.
const interval = 250 * time.Millisecond

// grace absorbs scheduling delays on a loaded 2-core machine running the
// race detector (and other people's servers), on top of interval-based
// bounds.
const grace = 750 * time.Millisecond

// maxLag is the replicas' max_replication_lag in these tests (seconds).
const maxLag = 3

// failoverBuffer is how long a write waits for a usable writer.
const failoverBuffer = 10 * time.Second

// stmtTimeout bounds every statement a load goroutine sends: longer than
// the failover buffer, so that a buffered write is never cut short by the
// client, short enough that a hang fails the test instead of the run.
const stmtTimeout = 30 * time.Second

// proxyConfig is testkit's sandbox configuration (writer hostgroup 10 =
// node 1, reader hostgroup 20 = nodes 2 and 3, replication_hostgroups
// 10/20 by read_only) with this package's monitor interval, a lag limit of
// maxLag on every item (the primary's item too, for after its demotion)
// and a failover buffer.
func proxyConfig(s *testkit.Sandbox) *config.Config {
	c := testkit.SandboxConfig(s)
	c.Monitor.Interval = interval
	for i := range c.Servers {
		c.Servers[i].MaxReplicationLag = maxLag
	}
	c.FailoverBuffer = failoverBuffer
	return c
}

// startProxy starts an in-process proxy for s and waits for the monitor's
// steady state: node 1 the ONLINE writer, nodes 2 and 3 ONLINE readers
// with a measured lag.
func startProxy(t *testing.T, s *testkit.Sandbox) *app.App {
	t.Helper()
	return startProxyWith(t, s, nil)
}

// startProxyWith is startProxy with the configuration changed by edit
// first (when not nil).
func startProxyWith(t *testing.T, s *testkit.Sandbox, edit func(*config.Config)) *app.App {
	t.Helper()
	cfg := proxyConfig(s)
	if edit != nil {
		edit(cfg)
	}
	a := testkit.StartProxy(t, cfg)
	require.Eventually(t, func() bool {
		snap := a.Monitor.Snapshot()
		b1, ok1 := findBackend(snap, 10, s.Addr(1))
		b2, ok2 := findBackend(snap, 20, s.Addr(2))
		b3, ok3 := findBackend(snap, 20, s.Addr(3))
		return ok1 && ok2 && ok3 && len(snap.Hostgroups[10]) == 1 &&
			b1.State == topology.StateOnline && !b1.ReadOnly &&
			b2.State == topology.StateOnline && b2.LagSeconds >= 0 &&
			b3.State == topology.StateOnline && b3.LagSeconds >= 0
	}, 30*time.Second, 10*time.Millisecond, "monitor steady state: %v", hostgroups(a))
	return a
}

// proxyDSN is a go-sql-driver DSN for app/app through the proxy.
// interpolate=false makes the driver use server-side prepared statements
// for statements with arguments.
func proxyDSN(a *app.App, db string, interpolate bool) string {
	return fmt.Sprintf("app:app@tcp(%s)/%s?interpolateParams=%t&timeout=5s", a.Addr(), db, interpolate)
}

// openDB opens a handle with at most maxConns connections, closed when the
// test ends.
func openDB(t *testing.T, dsn string, maxConns int) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "login with %s", dsn)
	return db
}

// rootSQL runs statements on node as the socket superuser.
func rootSQL(t *testing.T, s *testkit.Sandbox, node int, sql string) string {
	t.Helper()
	out, err := s.SQL(node, sql)
	require.NoError(t, err, "node%d: %s", node, sql)
	return out
}

// globalStatus reads one global status counter of node as root (SHOW
// STATUS counts as Com_show_status, not Com_select).
func globalStatus(t *testing.T, s *testkit.Sandbox, node int, name string) int64 {
	t.Helper()
	out := rootSQL(t, s, node, "SHOW GLOBAL STATUS LIKE '"+name+"'")
	f := strings.Fields(out)
	require.Len(t, f, 2, "node%d SHOW GLOBAL STATUS LIKE %q: %q", node, name, out)
	n, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return n
}

func findBackend(s *topology.Snapshot, hg int, addr string) (topology.Backend, bool) {
	for _, b := range s.Hostgroups[hg] {
		if b.Addr == addr {
			return b, true
		}
	}
	return topology.Backend{}, false
}

// usableIn reports whether addr is a usable member of hostgroup hg.
func usableIn(a *app.App, hg int, addr string) bool {
	b, ok := findBackend(a.Monitor.Snapshot(), hg, addr)
	return ok && b.Usable()
}

// stateIn is addr's state in hostgroup hg ("" when it is not there).
func stateIn(a *app.App, hg int, addr string) topology.State {
	// The snapshot the picker places statements by, not the monitor's
	// (a step ahead of it, more so on a loaded machine): a state seen here
	// is one every statement started afterwards is routed by.
	b, _ := findBackend(a.Topology(), hg, addr)
	return b.State
}

// runAsync starts a sandbox command and returns a function that waits for
// it, so that a test can watch the proxy while the command runs (`kill`
// takes a second or two: it waits for the process to be reaped).
func runAsync(s *testkit.Sandbox, args ...string) (wait func() (string, error)) {
	type result struct {
		out string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := s.Run(args...)
		ch <- result{out, err}
	}()
	return func() (string, error) {
		r := <-ch
		return r.out, r.err
	}
}

// waitFor polls cond every 5 ms for up to within and returns when it first
// held; the test fails otherwise.
func waitFor(t *testing.T, within time.Duration, cond func() bool, msg string, args ...any) time.Time {
	t.Helper()
	var at time.Time
	require.Eventually(t, func() bool {
		if cond() {
			at = time.Now()
			return true
		}
		return false
	}, within, 5*time.Millisecond, append([]any{msg}, args...)...)
	return at
}

// lazy is a message argument computed when a failure is reported, not
// when the assertion is set up.
type lazy func() string

func (l lazy) String() string { return l() }

// hostgroups describes the monitor's current placement, lazily.
func hostgroups(a *app.App) lazy {
	return func() string { return fmt.Sprint(a.Monitor.Snapshot().Hostgroups) }
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// mysqlErr returns err's MySQL error (from the server or the proxy), or nil
// when err is something else (a broken connection, a timeout).
func mysqlErr(err error) *mysql.MySQLError {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me
	}
	return nil
}

// ---------------------------------------------------------------- write load

// Kinds of write load operations.
const (
	opInsert = "insert" // autocommit INSERT of one unique id
	opTxn    = "txn"    // BEGIN; INSERT part 1; INSERT part 2; COMMIT
	opProbe  = "probe"  // BEGIN; INSERT; SELECT @@port; COMMIT
)

// writeOp is one finished operation of the write load.
type writeOp struct {
	kind       string
	worker     int
	id         int64 // the INSERT's id, the transaction's number
	start, end time.Time
	port       int   // probe: the @@port the transaction ran on
	err        error // nil: the client got OK (COMMIT's OK for transactions)
}

func (o writeOp) String() string {
	e := "OK"
	if o.err != nil {
		e = o.err.Error()
	}
	return fmt.Sprintf("%s#%d worker %d [%s .. %s] port %d: %s", o.kind, o.id, o.worker,
		o.start.Format("15:04:05.000"), o.end.Format("15:04:05.000"), o.port, e)
}

// writeLoad runs writers through the proxy into schema's tables acks (id),
// txns (txn, part) and probes (id, port) and records every operation.
type writeLoad struct {
	schema string
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	ops    []writeOp
}

// createWriteTables creates schema and the write load's tables on node.
func createWriteTables(t *testing.T, s *testkit.Sandbox, node int, schema string) {
	t.Helper()
	rootSQL(t, s, node, fmt.Sprintf(`DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s;
		CREATE TABLE %[1]s.acks (id BIGINT PRIMARY KEY, worker INT NOT NULL, ts DATETIME(6) NOT NULL DEFAULT NOW(6));
		CREATE TABLE %[1]s.txns (txn BIGINT NOT NULL, part INT NOT NULL, PRIMARY KEY (txn, part));
		CREATE TABLE %[1]s.probes (id BIGINT PRIMARY KEY, port INT NOT NULL)`, schema))
}

// startWriteLoad starts inserters autocommit writers (the first one uses
// server-side prepared statements, the others COM_QUERY), txns
// transactional writers and, with probe, one transaction that reports the
// writer's @@port in a loop. Each worker has its own client connection.
func startWriteLoad(t *testing.T, a *app.App, schema string, inserters, txns int, probe bool) *writeLoad {
	t.Helper()
	w := &writeLoad{schema: schema, stop: make(chan struct{})}
	worker := 0
	for i := range inserters {
		db := openDB(t, proxyDSN(a, schema, i != 0), 1)
		w.run(worker, db, w.insert)
		worker++
	}
	for range txns {
		db := openDB(t, proxyDSN(a, schema, true), 1)
		w.run(worker, db, w.txn)
		worker++
	}
	if probe {
		db := openDB(t, proxyDSN(a, schema, true), 1)
		w.run(worker, db, w.probe)
	}
	t.Cleanup(w.halt)
	return w
}

func (w *writeLoad) run(worker int, db *sql.DB, do func(ctx context.Context, db *sql.DB, id int64) writeOp) {
	w.wg.Go(func() {
		for n := int64(1); ; n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			id := int64(worker+1)*10_000_000 + n
			ctx, cancel := context.WithTimeout(context.Background(), stmtTimeout)
			start := time.Now()
			op := do(ctx, db, id)
			cancel()
			op.worker, op.id, op.start, op.end = worker, id, start, time.Now()
			w.mu.Lock()
			w.ops = append(w.ops, op)
			w.mu.Unlock()
		}
	})
}

func (w *writeLoad) insert(ctx context.Context, db *sql.DB, id int64) writeOp {
	_, err := db.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (?, ?)", id, id/10_000_000)
	return writeOp{kind: opInsert, err: err}
}

func (w *writeLoad) txn(ctx context.Context, db *sql.DB, id int64) writeOp {
	op := writeOp{kind: opTxn}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		op.err = fmt.Errorf("BEGIN: %w", err)
		return op
	}
	for part := 1; part <= 2; part++ {
		if _, err := tx.ExecContext(ctx, "INSERT INTO txns (txn, part) VALUES (?, ?)", id, part); err != nil {
			_ = tx.Rollback()
			op.err = fmt.Errorf("INSERT part %d: %w", part, err)
			return op
		}
	}
	if err := tx.Commit(); err != nil {
		op.err = fmt.Errorf("COMMIT: %w", err)
	}
	return op
}

func (w *writeLoad) probe(ctx context.Context, db *sql.DB, id int64) writeOp {
	op := writeOp{kind: opProbe}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		op.err = fmt.Errorf("BEGIN: %w", err)
		return op
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO probes (id, port) VALUES (?, @@port)", id); err != nil {
		_ = tx.Rollback()
		op.err = fmt.Errorf("INSERT: %w", err)
		return op
	}
	if err := tx.QueryRowContext(ctx, "SELECT @@port").Scan(&op.port); err != nil {
		_ = tx.Rollback()
		op.err = fmt.Errorf("SELECT @@port: %w", err)
		return op
	}
	if err := tx.Commit(); err != nil {
		op.err = fmt.Errorf("COMMIT: %w", err)
	}
	return op
}

// halt stops the writers and waits for them. Calling it twice is fine.
func (w *writeLoad) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// snapshot returns the operations finished so far.
func (w *writeLoad) snapshot() []writeOp {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]writeOp(nil), w.ops...)
}

// count counts finished operations that satisfy keep.
func (w *writeLoad) count(keep func(writeOp) bool) int {
	n := 0
	for _, o := range w.snapshot() {
		if keep(o) {
			n++
		}
	}
	return n
}

// firstOK returns the earliest-ending successful operation that satisfies keep.
func firstOK(ops []writeOp, keep func(writeOp) bool) (writeOp, bool) {
	var best writeOp
	found := false
	for _, o := range ops {
		if o.err == nil && keep(o) && (!found || o.end.Before(best.end)) {
			best, found = o, true
		}
	}
	return best, found
}

// errorsOf returns the failed operations, by start time.
func errorsOf(ops []writeOp) []writeOp {
	var out []writeOp
	for _, o := range ops {
		if o.err != nil {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// requireCleanErrors fails for any error that is not a MySQL error packet
// sent to the client (a dropped client connection, a timeout).
func requireCleanErrors(t *testing.T, ops []writeOp) {
	t.Helper()
	for _, o := range errorsOf(ops) {
		require.NotNil(t, mysqlErr(o.err), "not a clean MySQL error: %v", o)
	}
}

// errorSummary counts errors by MySQL code (-1: not a MySQL error).
func errorSummary(ops []writeOp) map[int]int {
	out := make(map[int]int)
	for _, o := range errorsOf(ops) {
		code := -1
		if me := mysqlErr(o.err); me != nil {
			code = int(me.Number)
		}
		out[code]++
	}
	return out
}

// requireNoLostWrites compares the load's record with what node holds:
// every acknowledged INSERT's id is there; every committed transaction has
// both rows and no transaction has one row only; an INSERT or transaction
// that failed with a definite error (anything but 9020, lost connection,
// whose outcome the client cannot know) left nothing behind.
func requireNoLostWrites(t *testing.T, s *testkit.Sandbox, node int, w *writeLoad) {
	t.Helper()
	ops := w.snapshot()
	have := make(map[int64]bool)
	for _, line := range strings.Split(strings.TrimSpace(rootSQL(t, s, node, "SELECT id FROM "+w.schema+".acks")), "\n") {
		if line == "" {
			continue
		}
		id, err := strconv.ParseInt(line, 10, 64)
		require.NoError(t, err)
		have[id] = true
	}
	parts := make(map[int64]int)
	for _, line := range strings.Split(strings.TrimSpace(rootSQL(t, s, node,
		"SELECT txn, COUNT(*) FROM "+w.schema+".txns GROUP BY txn")), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		require.Len(t, f, 2, line)
		txn, err := strconv.ParseInt(f[0], 10, 64)
		require.NoError(t, err)
		n, err := strconv.Atoi(f[1])
		require.NoError(t, err)
		parts[txn] = n
	}
	var lost, ghost []string
	acked, committed := 0, 0
	for _, o := range ops {
		switch o.kind {
		case opInsert:
			switch {
			case o.err == nil:
				acked++
				if !have[o.id] {
					lost = append(lost, o.String())
				}
			case !ambiguous(o.err) && have[o.id]:
				ghost = append(ghost, o.String())
			}
		case opTxn:
			switch {
			case o.err == nil:
				committed++
				if parts[o.id] != 2 {
					lost = append(lost, fmt.Sprintf("%v (node%d has %d of its 2 rows)", o, node, parts[o.id]))
				}
			case !ambiguous(o.err) && parts[o.id] != 0:
				ghost = append(ghost, fmt.Sprintf("%v (node%d has %d of its 2 rows)", o, node, parts[o.id]))
			}
		}
	}
	for txn, n := range parts {
		if n != 2 {
			lost = append(lost, fmt.Sprintf("txn#%d has %d of its 2 rows on node%d (not atomic)", txn, n, node))
		}
	}
	t.Logf("node%d holds all %d acknowledged INSERTs and %d committed transactions: lost %d, failed-but-present %d",
		node, acked, committed, len(lost), len(ghost))
	require.Positive(t, acked, "no INSERT was acknowledged")
	require.Empty(t, lost, "acknowledged writes missing on node%d", node)
	require.Empty(t, ghost, "writes that failed with a definite error are on node%d", node)
}

// ambiguous reports an error after which the client cannot know whether
// the write happened: the connection to the server was lost mid-statement
// (rwproxy's 9020), or the error is not a MySQL error at all.
func ambiguous(err error) bool {
	me := mysqlErr(err)
	return me == nil || me.Number == 9020
}

// ---------------------------------------------------------------- sysbench

// lockedBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sysbenchRun is a sysbench process that runs until stopped.
type sysbenchRun struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

// startSysbench starts sysbench with args and kills it when the test ends.
// It must be given a --time longer than the test needs: stop interrupts it.
func startSysbench(t *testing.T, args ...string) *sysbenchRun {
	t.Helper()
	r := &sysbenchRun{cmd: exec.Command("sysbench", args...), out: &lockedBuffer{}, done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	require.NoError(t, r.cmd.Start())
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// sysbenchLine is one --report-interval line.
var sysbenchLine = regexp.MustCompile(`(?m)^\[ *(\d+)s \] thds: (\d+) tps: ([\d.]+) qps: ([\d.]+) .*err/s: ([\d.]+) reconn/s: ([\d.]+)`)

// stop interrupts sysbench (which then prints no summary) and checks its
// per-second reports: it was still running (a non-ignored error ends it
// early), ran queries, and every second reported err/s and reconn/s 0.
// It returns the output and the total number of queries reported.
func (r *sysbenchRun) stop(t *testing.T) (string, float64) {
	t.Helper()
	select {
	case <-r.done:
		require.Failf(t, "sysbench ended before the test stopped it", "%v\n%s", r.err, r.out.String())
	default:
	}
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	out := r.out.String()
	require.NotRegexp(t, `(?i)fatal|error \d{4}|\berror:`, out, "errors in the sysbench output")
	lines := sysbenchLine.FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, lines, "no per-second reports in the sysbench output:\n%s", out)
	var queries float64
	for _, m := range lines {
		qps, _ := strconv.ParseFloat(m[4], 64)
		queries += qps
		require.Equal(t, "0.00", m[5], "sysbench errors per second at %ss:\n%s", m[1], m[0])
		require.Equal(t, "0.00", m[6], "sysbench reconnects per second at %ss:\n%s", m[1], m[0])
	}
	return out, queries
}

// ---------------------------------------------------------------- monitor

// lagSamples returns node addr's replication lag checks, oldest first.
func lagSamples(a *app.App, addr string) []monitor.LogEntry {
	var out []monitor.LogEntry
	for _, e := range a.Monitor.Log(monitor.KindReplicationLag, 0) {
		if e.Addr == addr {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// sampleLag parses a lag check's result ("lag=4.000s"); ok is false for an
// unknown lag or a failed check.
func sampleLag(e monitor.LogEntry) (float64, bool) {
	v, found := strings.CutPrefix(e.Result, "lag=")
	if !found {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64)
	return f, err == nil
}

// readOnlyChecks counts node addr's read-only checks (each one a
// SELECT @@global.read_only, i.e. one Com_select on the server) that
// started in [from, to].
func readOnlyChecks(a *app.App, addr string, from, to time.Time) int {
	n := 0
	for _, e := range a.Monitor.Log(monitor.KindReadOnly, 0) {
		if e.Addr == addr && !e.Time.Before(from) && !e.Time.After(to) {
			n++
		}
	}
	return n
}
