package replay

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

func stmtAt(t, durUS int64) capture.Record { return capture.Record{T: t, DurUS: durUS} }

// TestOrderTickets: a statement needs the statements that ended before it
// started, whatever their session; overlapping ones are not needed.
func TestOrderTickets(t *testing.T) {
	ms := int64(time.Millisecond)
	sessions := []*session{
		{stmts: []capture.Record{stmtAt(0, 1000), stmtAt(5*ms, 10000)}},    // ends 1 ms, 15 ms
		{stmts: []capture.Record{stmtAt(2*ms, 1000), stmtAt(10*ms, 1000)}}, // ends 3 ms, 11 ms
	}
	_, tk := newOrder(sessions)
	// End order: s0[0] (1 ms), s1[0] (3 ms), s1[1] (11 ms), s0[1] (15 ms).
	// Start order: s0[0], s1[0], s0[1], s1[1].
	require.Equal(t, []ticket{{rank: 0, need: 0, srank: 0}, {rank: 3, need: 2, srank: 2}}, tk[0])
	require.Equal(t, []ticket{{rank: 1, need: 1, srank: 1}, {rank: 2, need: 2, srank: 3}}, tk[1],
		"s1[1] starts at 10 ms: it needs s0[0] and s1[0], not s0[1] which it overlapped")
}

// TestOrderWaitDone: a wait returns once the statements it needs are done,
// not before; the watermark skips ahead over statements done out of order;
// a stalled watermark releases the waiters (counted).
func TestOrderWaitDone(t *testing.T) {
	o := newTestOrder(3)
	ret := make(chan bool, 1)
	go func() { ret <- o.wait(context.Background(), ticket{rank: 2, need: 2, srank: 2}) }()
	o.done(ticket{rank: 1, srank: 1})
	select {
	case <-ret:
		t.Fatal("the wait returned with statement 0 not done")
	default:
	}
	o.done(ticket{rank: 0, srank: 0})
	require.True(t, <-ret)
	o.mu.Lock()
	require.Equal(t, 2, o.mu.mark, "rank 1, done first, counted once rank 0 is")
	o.mu.Unlock()
	require.Zero(t, o.releasedCount())

	o.stall = time.Millisecond
	require.True(t, o.wait(context.Background(), ticket{rank: 2, need: 3, srank: 2}), "released by the stall rule")
	require.Equal(t, int64(1), o.releasedCount())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o.stall = time.Hour
	require.False(t, o.wait(ctx, ticket{rank: 2, need: 3, srank: 2}))
}

func newTestOrder(n int) *order {
	o := &order{stall: time.Hour}
	o.mu.done, o.mu.sent = make([]bool, n), make([]bool, n)
	o.mu.moved = make(chan struct{})
	return o
}

// TestOrderSendsInArrivalOrder: a statement that needs nothing finished
// is still not sent before the statements that arrived before it.
func TestOrderSendsInArrivalOrder(t *testing.T) {
	o := newTestOrder(2)
	ret := make(chan bool, 1)
	go func() { ret <- o.wait(context.Background(), ticket{rank: 0, need: 0, srank: 1}) }()
	select {
	case <-ret:
		t.Fatal("sent before the statement that arrived first")
	default:
	}
	first := ticket{rank: 1, need: 0, srank: 0}
	require.True(t, o.wait(context.Background(), first), "the first one goes at once")
	select {
	case <-ret:
		t.Fatal("sent before the first one's bytes were written")
	default:
	}
	o.sent(first)
	require.True(t, <-ret, "then the second")
	o.sent(ticket{rank: 0, srank: 1})
	o.mu.Lock()
	defer o.mu.Unlock()
	require.Equal(t, 2, o.mu.smark)
	require.Equal(t, 0, o.mu.mark, "sent, not done")
}

// slowTarget answers "SELECT 'a'" slowly and records when statements
// start and end.
type slowTarget struct {
	mysqlserver.EmptyHandler
	mu     *sync.Mutex
	events *[]string
}

func (s slowTarget) HandleQuery(q string) (*mysql.Result, error) {
	name := strings.Trim(strings.TrimPrefix(q, "SELECT "), "'")
	s.log("start " + name)
	if name == "a" {
		// A slow server, not a synchronization: without the order, b
		// (captured after a ended) would start while a runs.
		time.Sleep(200 * time.Millisecond)
	}
	s.log("end " + name)
	rs, err := mysql.BuildSimpleResultset([]string{"c"}, [][]any{{name}}, false)
	return mysql.NewResult(rs), err
}

func (s slowTarget) log(e string) {
	s.mu.Lock()
	*s.events = append(*s.events, e)
	s.mu.Unlock()
}

func (slowTarget) HandleOtherCommand(byte, []byte) error { return nil }

// TestReplayKeepsCaptureOrder: session 2's statement arrived in the capture
// after session 1's had ended; the target runs session 1's slowly, and the
// replay still starts session 2's only once session 1's has ended.
func TestReplayKeepsCaptureOrder(t *testing.T) {
	var mu sync.Mutex
	var events []string
	addr := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler {
		return slowTarget{mu: &mu, events: &events}
	}})
	dir := t.TempDir()
	var c capture.Capturer
	require.NoError(t, c.Start(capture.Options{Dir: dir}))
	now := time.Now()
	c.Record(&capture.Stmt{Start: now, Session: 1, Autocommit: true, SQL: "SELECT 'a'", Digest: "select ?", Dur: time.Millisecond, Rows: 1})
	c.Record(&capture.Stmt{Start: now.Add(2 * time.Millisecond), Session: 2, Autocommit: true, SQL: "SELECT 'b'", Digest: "select ?", Dur: time.Millisecond, Rows: 1})
	_, err := c.Stop()
	require.NoError(t, err)
	r, err := Run(context.Background(), Options{From: dir, To: addr, User: "u", Password: "pw"})
	require.NoError(t, err)
	require.Equal(t, 2, r.Statements)
	require.Zero(t, r.Unexpected, "%+v", r.Diffs)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"start a", "end a", "start b", "end b"}, events)
	require.Zero(t, r.OrderReleased)
}

// TestOrderDependentReads: a read is order-dependent when its snapshot (the
// read itself, or its transaction's first read) overlapped another
// session's commit (a COMMIT, or a write outside a transaction); its own
// session's commits do not count.
func TestOrderDependentReads(t *testing.T) {
	ms := int64(time.Millisecond)
	st := func(at, until int64, digest string) capture.Record {
		return capture.Record{T: at * ms / 10, DurUS: (until - at) * 100, Digest: digest}
	}
	sessions := []*session{
		{stmts: []capture.Record{st(0, 10, "begin"), st(20, 30, "select c from t where id = ?"),
			st(100, 110, "select c from t where id between ? and ?"), st(120, 130, "commit")}},
		{stmts: []capture.Record{st(25, 40, "update t set c = ? where id = ?"), st(50, 60, "select c from t where id = ?")}},
		{stmts: []capture.Record{st(200, 210, "select c from t"), st(125, 128, "select k from t"),
			st(45, 55, "update t set k = ? where id = ?")}},
	}
	dep := orderDependent(sessions)
	require.Equal(t, []bool{false, true, true, false}, dep[0],
		"both reads of the transaction: its snapshot (20-30) overlapped session 1's autocommit update (25-40)")
	require.Equal(t, []bool{false, true}, dep[1], "50-60 overlapped session 2's update (45-55)")
	require.Equal(t, []bool{false, true, false}, dep[2], "125-128 overlapped session 0's COMMIT (120-130); 200-210 overlapped nothing")
}

// TestReportOrderDependent: rows that differ on an order-dependent read are
// counted apart from the mismatches, and listed.
func TestReportOrderDependent(t *testing.T) {
	r := newReport(Options{}, []outcome{
		{digest: "select ?", mismatch: "1 rows, captured checksum a, replay b", rows: true, checksum: true, orderDep: true},
		{digest: "select ?", mismatch: "captured 2 rows, replay 1", rows: true},
	}, time.Second)
	require.Equal(t, 1, r.OrderDependent)
	require.Equal(t, 1, r.Mismatches)
	require.Equal(t, "replay: 2 statements, 0 unexpected errors, 1 mismatches", r.Summary())
	require.Equal(t, "order_dependent", r.Diffs[0].Kind)
	require.Contains(t, r.Markdown(), "1 reads returned other rows than captured")
}

// TestOrderWriteDeps: a write that overlapped another session's earlier
// write and ended after it (it waited for its lock) is sent after it;
// not the other way round, not for reads, not within a session.
func TestOrderWriteDeps(t *testing.T) {
	ms := int64(time.Millisecond)
	rec := func(at, until int64, digest string) capture.Record {
		return capture.Record{T: at * ms, DurUS: (until - at) * 1000, Digest: digest}
	}
	sessions := []*session{
		{stmts: []capture.Record{rec(0, 2, "update t set c = ? where id = ?"), rec(3, 10, "commit")}},
		{stmts: []capture.Record{rec(1, 11, "update t set c = ? where id = ?"), rec(12, 13, "commit")}},
		{stmts: []capture.Record{rec(1, 12, "select c from t where id = ?")}},
	}
	_, tk := newOrder(sessions)
	require.Equal(t, []int{tk[0][0].rank}, tk[1][0].after, "session 1's update waited for session 0's")
	require.Empty(t, tk[0][1].after, "the COMMIT does not wait for the update that waited for it")
	require.Empty(t, tk[2][0].after, "a read")

	// Session 1's update waited for session 0's lock and, at the proxy,
	// ended before session 0's COMMIT did (the server releases the locks
	// before the OK is sent): the COMMIT still does not wait for it, or
	// the two would wait for each other.
	sessions = []*session{
		{stmts: []capture.Record{rec(0, 2, "update t set c = ? where id = ?"), rec(3, 10, "commit")}},
		{stmts: []capture.Record{rec(1, 9, "update t set c = ? where id = ?"), rec(12, 13, "rollback")}},
		{stmts: []capture.Record{rec(2, 3, "insert into u values ( ? )"), rec(4, 11, "commit")}},
	}
	_, tk = newOrder(sessions)
	require.Empty(t, tk[0][1].after, "a COMMIT waits for no write")
	require.Equal(t, []int{tk[0][0].rank}, tk[1][0].after, "the update still follows the update it waited for")
	require.Empty(t, tk[2][1].after, "nor for two")
}

// TestEndsTransaction: COMMIT and ROLLBACK, not ROLLBACK TO a savepoint.
func TestEndsTransaction(t *testing.T) {
	for d, want := range map[string]bool{
		"commit": true, "COMMIT": true, " commit ": true, "commit work": true, "rollback": true, "rollback work": true,
		"rollback to savepoint a": false, "rollback to a": false, "update t set c = ?": false, "commits": false, "begin": false,
	} {
		require.Equal(t, want, endsTransaction(d), d)
	}
}
