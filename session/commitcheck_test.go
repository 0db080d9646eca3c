package session

import (
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// markerTable is the fake servers' commit check table: node/session →
// seq, as committed.
type markerTable struct {
	mu sync.Mutex
	m  map[string]string
}

var (
	markerInsert = regexp.MustCompile(`^INSERT INTO ` + "`rw`.`chk`" + ` \(node, session, seq\) VALUES \('([^']*)', (\d+), (\d+)\) ON DUPLICATE KEY UPDATE seq = (\d+)$`)
	markerSelect = regexp.MustCompile(`^SELECT seq FROM ` + "`rw`.`chk`" + ` WHERE node = '([^']*)' AND session = (\d+)$`)
)

// marker serves the commit check's statements and applies the markers at
// COMMIT; ok is false for the statements run serves itself.
func (h *kvConn) marker(q, uq string) (*mysql.Result, bool, error) {
	srv := h.srv
	switch {
	case strings.HasPrefix(uq, "BEGIN"), strings.HasPrefix(uq, "START"), strings.HasPrefix(uq, "ROLLBACK"):
		h.pending = nil
	case strings.HasPrefix(uq, "COMMIT"):
		die := srv.commitDies.Load()
		if die != 1 {
			srv.markers.mu.Lock()
			for k, v := range h.pending {
				srv.markers.m[k] = v
			}
			srv.markers.mu.Unlock()
		}
		h.pending = nil
		if die != 0 {
			srv.dead.Store(true)
			srv.lost.Store(true)
			_ = h.nc.Close()
			return nil, true, errDied
		}
	case strings.HasPrefix(uq, "INSERT INTO `RW`.`CHK`"):
		if srv.markerDies.Load() {
			srv.dead.Store(true)
			srv.lost.Store(true)
			_ = h.nc.Close()
			return nil, true, errDied
		}
		if code := srv.markerErr.Load(); code != 0 {
			return nil, true, mysql.NewError(uint16(code), "marker refused")
		}
		m := markerInsert.FindStringSubmatch(q)
		if m == nil || m[3] != m[4] {
			return nil, true, mysql.NewError(mysql.ER_PARSE_ERROR, "bad marker "+q)
		}
		if h.pending == nil {
			h.pending = map[string]string{}
		}
		h.pending[m[1]+"/"+m[2]] = m[3]
		return &mysql.Result{AffectedRows: 1}, true, nil
	case strings.HasPrefix(uq, "SELECT SEQ FROM"):
		m := markerSelect.FindStringSubmatch(q)
		if m == nil {
			return nil, true, mysql.NewError(mysql.ER_PARSE_ERROR, "bad check "+q)
		}
		srv.markers.mu.Lock()
		v, found := srv.markers.m[m[1]+"/"+m[2]]
		srv.markers.mu.Unlock()
		rows := [][]any{}
		if found {
			rows = append(rows, []any{v})
		}
		rs, err := mysql.BuildSimpleTextResultset([]string{"seq"}, rows)
		return &mysql.Result{Resultset: rs}, true, err
	}
	return nil, false, nil
}

// checkSession serves a session with transaction replay and the commit
// check on, in front of a (the first writer) and b, which share the check
// table (b is a's replica, promoted when a dies).
func checkSession(t *testing.T, a, b *kvServer) (net.Conn, *Stats) {
	t.Helper()
	b.markers = a.markers
	p := &failoverPicker{a: a, b: b}
	rt := &Routing{ReaderOf: map[int]int{}, FailoverBuffer: 5 * time.Second,
		Replay: ReplayConfig{On: true, MaxSize: 1 << 20, Attempts: 3, Timeout: 20 * time.Second,
			CommitCheck: "`rw`.`chk`", Node: "n1"}}
	return servedSession(t, p, rt, a.addr, b.addr)
}

// writeTxn opens a transaction that reads and writes.
func writeTxn(t *testing.T, nc net.Conn) {
	t.Helper()
	requireOK(t, query(t, nc, "BEGIN"))
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")))
	requireOK(t, query(t, nc, "UPDATE t SET v = v + 1"))
}

func TestCommitCheckMarkerSeenAnswersOK(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	nc, st := checkSession(t, a, b)
	writeTxn(t, nc)
	requireOK(t, query(t, nc, "COMMIT")) // a first transaction: seq 1
	writeTxn(t, nc)
	a.commitDies.Store(2) // commits, then dies before the answer
	requireOK(t, query(t, nc, "COMMIT"))
	stmts := b.statements()
	require.Len(t, stmts, 1, "only the check ran on the new writer: %q", stmts)
	require.True(t, markerSelect.MatchString(stmts[0]), stmts[0])
	require.Equal(t, []string{"2"}, values(a.markers), "the second transaction's marker")
	require.EqualValues(t, 1, st.Replay.CommitChecks.Load())
	require.EqualValues(t, 1, st.Replay.CommitsFound.Load())
	require.Zero(t, st.Replay.Started.Load(), "not replayed")
	require.Zero(t, st.Replay.Failed[ReplayCommitInDoubt].Load())
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the session goes on, on b")
}

func TestCommitCheckMarkerAbsentReplaysOnce(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	nc, st := checkSession(t, a, b)
	writeTxn(t, nc)
	requireOK(t, query(t, nc, "COMMIT"))
	writeTxn(t, nc)
	a.commitDies.Store(1) // dies before committing
	requireOK(t, query(t, nc, "COMMIT"))
	stmts := b.statements()
	require.Len(t, stmts, 6, "%q", stmts)
	require.True(t, markerSelect.MatchString(stmts[0]), stmts[0])
	require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1"}, stmts[1:4])
	require.True(t, markerInsert.MatchString(stmts[4]), stmts[4])
	require.Equal(t, "COMMIT", stmts[5], "replayed once, then committed")
	require.Equal(t, []string{"2"}, values(a.markers))
	require.EqualValues(t, 1, st.Replay.CommitChecks.Load())
	require.EqualValues(t, 1, st.Replay.CommitsReplayed.Load())
	require.EqualValues(t, 1, st.Replay.Started.Load())
	require.EqualValues(t, 1, st.Replay.Succeeded.Load())
	require.Zero(t, st.Replay.CommitsFound.Load())
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the session goes on, on b")
}

func TestCommitCheckMarkerFailsKeepsInDoubtError(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	a.markerErr.Store(mysql.ER_NO_SUCH_TABLE)
	nc, st := checkSession(t, a, b)
	writeTxn(t, nc)
	a.commitDies.Store(2)
	ps := query(t, nc, "COMMIT")
	require.Equal(t, protocol.ErrCodeBackendLost, errCode(ps[0]), "%q", ps[0].payload)
	require.Empty(t, b.statements(), "without a marker, a lost COMMIT is neither checked nor replayed")
	require.EqualValues(t, 1, st.Replay.MarkerErrors.Load())
	require.EqualValues(t, 1, st.Replay.Failed[ReplayCommitInDoubt].Load())
	require.Zero(t, st.Replay.CommitChecks.Load())
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the session goes on")
}

func TestCommitCheckMarkerLostReplaysWithoutCheck(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	nc, st := checkSession(t, a, b)
	writeTxn(t, nc)
	a.markerDies.Store(true) // the COMMIT is never sent
	requireOK(t, query(t, nc, "COMMIT"))
	stmts := b.statements()
	require.Len(t, stmts, 5, "%q", stmts)
	require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1"}, stmts[:3], "no check: replayed at once")
	require.True(t, markerInsert.MatchString(stmts[3]), stmts[3])
	require.Equal(t, "COMMIT", stmts[4])
	require.Equal(t, []string{"1"}, values(a.markers))
	require.EqualValues(t, 1, st.Replay.CommitsReplayed.Load())
	require.NotContains(t, a.statements(), "COMMIT")
}

func TestCommitCheckMarkerDeadlockRollsBack(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	a.markerErr.Store(mysql.ER_LOCK_DEADLOCK) // InnoDB rolled the transaction back
	nc, st := checkSession(t, a, b)
	writeTxn(t, nc)
	ps := query(t, nc, "COMMIT")
	require.EqualValues(t, mysql.ER_LOCK_DEADLOCK, errCode(ps[0]), "%q", ps[0].payload)
	require.Equal(t, "40001", string(ps[0].payload[4:9]))
	require.NotContains(t, a.statements(), "COMMIT", "a COMMIT after the deadlock would commit nothing and say OK")
	require.Empty(t, values(a.markers))
	require.EqualValues(t, 1, st.Replay.MarkerErrors.Load())
	requireOK(t, query(t, nc, "BEGIN")) // the client's retry
	requireOK(t, query(t, nc, "UPDATE t SET v = v + 1"))
	a.markerErr.Store(0)
	requireOK(t, query(t, nc, "COMMIT"))
	require.Equal(t, []string{"2"}, values(a.markers))
}

// values lists the committed markers' seq.
func values(mt *markerTable) []string {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	var out []string
	for _, v := range mt.m {
		out = append(out, v)
	}
	return out
}
