package session

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// roSession serves a session with transaction replay on in front of a
// (the writer) and b, with the failover buffer buf and attempts replay
// attempts; onCheck runs at each CheckNow call (the monitor's), with the
// number of calls so far.
func roSession(t *testing.T, a, b *kvServer, buf time.Duration, attempts int, onCheck func(n int64, p *switchPicker)) (
	conn net.Conn, st *Stats, p *switchPicker, checks *atomic.Int64) {
	t.Helper()
	p = &switchPicker{}
	p.set(a.addr)
	checks = &atomic.Int64{}
	rt := &Routing{ReaderOf: map[int]int{}, FailoverBuffer: buf,
		Replay: ReplayConfig{On: true, MaxSize: 1 << 20, Attempts: attempts, Timeout: 20 * time.Second}}
	conn, st = servedSessionWith(t, p, func() *Routing { return rt }, func(d *Deps) {
		d.CheckNow = func() {
			n := checks.Add(1)
			if onCheck != nil {
				onCheck(n, p)
			}
		}
	}, a.addr, b.addr)
	return conn, st, p, checks
}

// A demoted primary answers 1290 to a statement of an open transaction:
// the client does not see it; the transaction is replayed on the new
// writer and the statement runs there. The monitor was asked to check at
// once.
func TestReplayOnReadOnlyRefusal(t *testing.T) {
	for _, at := range []string{"UPDATE", "COMMIT"} {
		t.Run(at, func(t *testing.T) {
			a, b := startKV(t, 7), startKV(t, 7)
			conn, st, p, checks := roSession(t, a, b, 5*time.Second, 3, nil)
			requireOK(t, query(t, conn, "BEGIN"))
			require.Equal(t, "7", textValue(t, query(t, conn, "SELECT v FROM t")))
			requireOK(t, query(t, conn, "UPDATE t SET v = v + 1"))

			a.readOnly.Store(true) // demoted; b promoted, and the picker knows
			p.set(b.addr)
			want := []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1"}
			if at == "UPDATE" {
				requireOK(t, query(t, conn, "UPDATE t SET v = v + 1"))
				want = append(want, "UPDATE t SET v = v + 1")
			}
			requireOK(t, query(t, conn, "COMMIT"))
			require.Equal(t, append(want, "COMMIT"), b.statements(), "replayed on the new writer, then went on there")
			require.Equal(t, append(want[:3:3], at+map[string]string{"UPDATE": " t SET v = v + 1", "COMMIT": ""}[at]),
				a.statements(), "the demoted server saw the refused statement, and nothing after it")
			require.EqualValues(t, 1, st.Replay.Started.Load())
			require.EqualValues(t, 1, st.Replay.Succeeded.Load())
			require.GreaterOrEqual(t, checks.Load(), int64(1), "the monitor was asked to check now")
			require.Equal(t, "7", textValue(t, query(t, conn, "SELECT v FROM t")), "the session goes on")
		})
	}
}

// The monitor has not seen the promotion yet: the picker still names the
// demoted server, which refuses the replay's UPDATE. Those refusals cost
// no attempt within failover_buffer (only 2 attempts here): the replay
// goes on once the monitor, asked by CheckNow, publishes the new writer.
func TestReplayWaitsForThePromotion(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	conn, st, _, checks := roSession(t, a, b, 5*time.Second, 2, func(n int64, p *switchPicker) {
		if n == 6 {
			p.set(b.addr)
		}
	})
	requireOK(t, query(t, conn, "BEGIN"))
	requireOK(t, query(t, conn, "UPDATE t SET v = v + 1"))
	a.readOnly.Store(true)
	requireOK(t, query(t, conn, "UPDATE t SET v = v + 1"))
	requireOK(t, query(t, conn, "COMMIT"))
	require.Equal(t, []string{"BEGIN", "UPDATE t SET v = v + 1", "UPDATE t SET v = v + 1", "COMMIT"}, b.statements())
	require.GreaterOrEqual(t, checks.Load(), int64(6))
	require.EqualValues(t, 1, st.Replay.Succeeded.Load())
	require.Zero(t, st.Replay.Failed[ReplayReadOnly].Load())
}

// No server takes writes within failover_buffer: the client gets the
// 1290 after all, and the transaction is rolled back on the demoted
// server (its next statements fail until the client ends it), as without
// replay.
func TestReplayReadOnlyNoNewWriter(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	conn, st, _, _ := roSession(t, a, b, 200*time.Millisecond, 2, nil)
	requireOK(t, query(t, conn, "BEGIN"))
	requireOK(t, query(t, conn, "UPDATE t SET v = v + 1"))
	a.readOnly.Store(true)
	ps := query(t, conn, "UPDATE t SET v = v + 1")
	require.EqualValues(t, mysql.ER_OPTION_PREVENTS_STATEMENT, errCode(ps[0]), "%q", ps[0].payload)
	require.EqualValues(t, 1, st.Replay.Failed[ReplayReadOnly].Load())
	require.Empty(t, b.statements())
	require.Equal(t, "ROLLBACK", a.statements()[len(a.statements())-1], "rolled back on the demoted server")
	ps = query(t, conn, "SELECT v FROM t")
	require.EqualValues(t, mysql.ER_ERROR_DURING_COMMIT, errCode(ps[0]), "the transaction stays failed until it ends")
	requireOK(t, query(t, conn, "ROLLBACK"))
	require.Equal(t, "7", textValue(t, query(t, conn, "SELECT v FROM t")))
}

// With the commit check on, a demoted primary refuses the marker, then
// the COMMIT: the marker's refusal is no marker error, and the refused
// COMMIT (it did not commit) is replayed on the new writer.
func TestCommitCheckOnDemotedPrimary(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	b.markers = a.markers
	p := &switchPicker{}
	p.set(a.addr)
	rt := &Routing{ReaderOf: map[int]int{}, FailoverBuffer: 5 * time.Second,
		Replay: ReplayConfig{On: true, MaxSize: 1 << 20, Attempts: 3, Timeout: 20 * time.Second,
			CommitCheck: "`rw`.`chk`", Node: "n1"}}
	conn, st := servedSession(t, p, rt, a.addr, b.addr)
	requireOK(t, query(t, conn, "BEGIN"))
	require.Equal(t, "7", textValue(t, query(t, conn, "SELECT v FROM t")))
	requireOK(t, query(t, conn, "UPDATE t SET v = v + 1"))
	a.readOnly.Store(true)
	p.set(b.addr)
	requireOK(t, query(t, conn, "COMMIT"))
	require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1", "COMMIT"}, b.statements(),
		"replayed and committed on the new writer")
	require.Len(t, a.statements(), 5, "the demoted server saw the marker and the COMMIT, both refused")
	require.Zero(t, st.Replay.MarkerErrors.Load())
	require.EqualValues(t, 1, st.Replay.Succeeded.Load())
	require.Zero(t, st.Replay.CommitChecks.Load(), "a refused COMMIT needs no check: it did not commit")
}
