package session

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// Transaction replay (issue #21), the recording half.
//
// While a transaction is open, the session keeps every statement it ran
// (the COM_QUERY packet, or the COM_STMT_EXECUTE packet with its
// parameters and their types, and the session's prepared statement, which
// outlives a COM_STMT_CLOSE while the record holds it) and a checksum of
// the result each returned: affected rows and insert id of every OK
// packet, the rows (xxhash of each row packet, order-free sum), the error
// code. When the transaction's server is lost before any byte of a
// statement's reply reached the client, txreplayrun.go starts the
// transaction again elsewhere, re-runs the record, and goes on only when
// every checksum matches.
//
// The record is bounded by transaction_replay_max_size; a transaction
// that outgrows it, or runs a statement that cannot be replayed (DDL and
// other implicit commits, CALL, LOAD DATA LOCAL, multi-statements,
// statements that pin the session: temporary tables, locks, user
// variables...), is marked broken and behaves as without replay.
//
// Hooks in the per-statement path: route notes the statement (txNote),
// runStmt brackets the request with txBegin / txEnd and hands a lost
// connection to txRecover; onOK feeds txOK.

// ReplayConfig is the transaction_replay settings.
type ReplayConfig struct {
	On       bool
	MaxSize  int
	Attempts int
	Timeout  time.Duration
	// CommitCheck is transaction_replay_commit_check: the table
	// (`schema`.`table`, quoted) of the commit markers; "" = off
	// (commitcheck.go).
	CommitCheck string
	// Node names this proxy in the markers (the cluster node name).
	Node string
}

// txLog is the record of the session's open transaction.
type txLog struct {
	// kind, flags and sql describe the statement being routed (txNote);
	// sql aliases the request and is cleared by txBegin.
	kind  router.Kind
	flags router.Flags
	sql   string
	// rec: the request being run is recorded (txBegin .. txEnd);
	// rowSum is the relay's RowSum setting to restore after it.
	rec    bool
	rowSum bool
	// acc is the checksum of the OK packets of the request being run;
	// changed: one of them reported affected rows.
	acc     uint64
	changed bool
	pend    txEntry
	// open: entries belong to the transaction being run (or to one a SET
	// TRANSACTION is about to start); broken: it cannot be replayed.
	open   bool
	broken bool
	// writes: a recorded statement was a write or changed rows.
	writes bool
	// hg / reader: where the transaction started.
	hg     int
	reader bool
	// seq numbers the session's marked COMMITs; marked: the COMMIT being
	// run carries marker seq; unsent: its marker failed on a lost
	// connection, so the COMMIT never reached the server (commitcheck.go).
	seq    uint64
	marked bool
	unsent bool
	buf    []byte
	ents   []txEntry
}

// txEntry is one recorded request: buf[off:off+n], its prepared statement
// for an execute, its kind and its result's checksum.
type txEntry struct {
	off, n int
	ps     *prepared
	kind   router.Kind
	sum    uint64
}

// maxKeptReplayBuf bounds the record buffer a session keeps between
// transactions.
const maxKeptReplayBuf = 16 << 10

func (l *txLog) reset() {
	l.open, l.broken, l.writes = false, false, false
	l.marked, l.unsent = false, false
	clear(l.ents) // drop the prepared statements
	l.ents = l.ents[:0]
	if cap(l.buf) > maxKeptReplayBuf {
		l.buf, l.ents = nil, nil
	}
	l.buf = l.buf[:0]
}

// txNote records what route decided about st (sql is its text).
func (s *Session) txNote(st *router.Stmt, sql string) {
	s.tx.kind, s.tx.flags, s.tx.sql = st.Kind, st.Flags, sql
}

// replayable reports whether a statement (kind, flags, text) may be recorded and run again in a new
// transaction: reads, transaction control and DML, without the forms that
// commit implicitly, keep state on the connection or cannot be re-sent.
func replayable(kind router.Kind, flags router.Flags, sql string) bool {
	const never = router.FlagMulti | router.FlagLoadLocal | router.FlagCall | router.FlagSelectInto |
		router.FlagParseError | router.FlagPrepareSQL | router.FlagExecuteSQL | router.FlagCreateTempTable |
		router.FlagLockTables | router.FlagGetLock | router.FlagHandler | router.FlagSetOther
	if flags&never != 0 {
		return false
	}
	switch kind {
	case router.KindRead, router.KindBegin, router.KindCommit, router.KindRollback, router.KindSavepoint,
		router.KindRelease, router.KindSet, router.KindShow, router.KindEmpty, router.KindUse:
		return true
	case router.KindWrite:
		return isDML(sql)
	}
	return false
}

// isDML reports whether sql starts (after comments) with INSERT, UPDATE,
// DELETE or REPLACE: a write that never commits implicitly.
func isDML(sql string) bool {
	w := firstWord(sql)
	for _, v := range [...]string{"INSERT", "UPDATE", "DELETE", "REPLACE"} {
		if strings.EqualFold(w, v) {
			return true
		}
	}
	return false
}

// firstWord returns the first word of sql after spaces and comments.
func firstWord(sql string) string {
	for {
		sql = strings.TrimLeft(sql, " \t\r\n(")
		switch {
		case strings.HasPrefix(sql, "/*"):
			end := strings.Index(sql[2:], "*/")
			if end < 0 {
				return ""
			}
			sql = sql[end+4:]
			continue
		case strings.HasPrefix(sql, "#"), strings.HasPrefix(sql, "-- "):
			end := strings.IndexByte(sql, '\n')
			if end < 0 {
				return ""
			}
			sql = sql[end+1:]
			continue
		}
		end := strings.IndexFunc(sql, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
		})
		if end < 0 {
			return sql
		}
		return sql[:end]
	}
}

// txBegin decides whether the request about to run on target t is
// recorded, and records it. Statements outside a transaction (autocommit)
// are not.
func (s *Session) txBegin(r *request, pkt []byte, o op, t *target) {
	s.tx.rec = false
	sql := s.tx.sql
	s.tx.sql = ""
	if o != opQuery && o != opExecute {
		if s.inTxn && s.tx.open {
			s.tx.broken = true // not expected: COM_FIELD_LIST etc. change nothing, but stay safe
		}
		return
	}
	if !s.tx.open {
		if !s.inTxn && s.tx.kind != router.KindBegin && s.st.autocommit() && !r.nextTxn {
			return
		}
		rc := &s.d.Routing().Replay
		if !rc.On {
			return
		}
		s.tx.reset()
		s.tx.open, s.tx.hg, s.tx.reader = true, t.hg, t.reader
		// A transaction already open (replay was off when it began) has
		// no complete record.
		s.tx.broken = s.inTxn
	}
	if s.tx.broken {
		return
	}
	if !replayable(s.tx.kind, s.tx.flags, sql) || s.reasons()&^(PinTransaction|PinNextStatement) != 0 || len(pkt) >= mysql.MaxPayloadLen {
		s.txBreak()
		return
	}
	if o == opExecute {
		ps := r.exec.ps
		if len(ps.long.chunks) > 0 {
			s.txBreak() // long data is sent once; not kept
			return
		}
		if ps.params > 0 && !r.exec.bound {
			if len(ps.types) != 2*ps.params {
				s.txBreak()
				return
			}
			pkt = withTypes(pkt, 4+r.exec.typesAt, ps.types)
		}
	}
	if len(s.tx.buf)+len(pkt) > s.d.Routing().Replay.MaxSize {
		s.d.Stats.Replay.TooBig.Add(1)
		s.txBreak()
		return
	}
	s.tx.pend = txEntry{off: len(s.tx.buf), n: len(pkt), kind: s.tx.kind}
	if o == opExecute {
		s.tx.pend.ps = r.exec.ps
	}
	s.tx.buf = append(s.tx.buf, pkt...)
	s.txStart()
}

// txStart begins a recorded request's checksum.
func (s *Session) txStart() {
	if s.relay.Withhold == nil { // once per session: a method value allocates
		s.relay.Withhold = s.withholdReadOnly
	}
	s.tx.rec, s.tx.acc, s.tx.changed = true, 0, false
	s.tx.rowSum, s.relay.RowSum = s.relay.RowSum, true
}

// txBreak makes the open transaction not replayable and frees its record.
func (s *Session) txBreak() {
	s.tx.broken = true
	clear(s.tx.ents)
	s.tx.ents, s.tx.buf = s.tx.ents[:0], s.tx.buf[:0]
}

// txOK adds an OK packet of the recorded request to its checksum.
func (s *Session) txOK(ok *protocol.OK) {
	if !s.tx.rec {
		return
	}
	s.tx.acc = mix(mix(s.tx.acc, ok.AffectedRows), ok.InsertID)
	if ok.AffectedRows > 0 {
		s.tx.changed = true
	}
}

// txEnd ends the request begun by txBegin: a recorded request that got
// its reply joins the record; the record ends with the transaction.
func (s *Session) txEnd(r *request, res protocol.Response, err error) {
	if s.tx.rec {
		s.tx.rec = false
		s.relay.RowSum = s.tx.rowSum
		if err == nil && !s.tx.broken {
			s.tx.pend.sum = resultSum(s.tx.acc, res)
			s.tx.ents = append(s.tx.ents, s.tx.pend)
			if s.tx.pend.kind == router.KindWrite || s.tx.changed {
				s.tx.writes = true
			}
		}
		s.tx.pend = txEntry{}
	}
	if s.tx.open && (err != nil || (!s.inTxn && !r.nextTxn)) {
		s.tx.reset()
	}
}

// resultSum is the checksum of one result: acc (its OK packets), its
// rows and its error code.
func resultSum(acc uint64, res protocol.Response) uint64 {
	h := mix(mix(acc, uint64(res.Rows)), res.RowSum)
	if res.Err != nil {
		h = mix(h, uint64(res.Err.Code))
	}
	return h
}

// mix folds v into the checksum h (order-dependent).
func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

// Replay failure reasons (ReplayStats.Failed).
const (
	// ReplayNoServer: no server to replay on within failover_buffer.
	ReplayNoServer = iota
	// ReplayServerLost: the server of each attempt was lost too.
	ReplayServerLost
	// ReplayReadOnly: the servers tried still refused writes (read_only).
	ReplayReadOnly
	// ReplayTimeout: transaction_replay_timeout or _attempts ran out.
	ReplayTimeout
	// ReplayCommitInDoubt: the lost statement was the COMMIT of a
	// transaction that wrote: its outcome is unknown, it is never
	// replayed.
	ReplayCommitInDoubt
	// ReplayNotReplayable: the lost transaction had no complete record
	// (too big, or a statement that cannot be replayed).
	ReplayNotReplayable
	// ReplayCheckFailed: the commit check's query failed on the new
	// writer (transaction_replay_commit_check): the outcome stays unknown.
	ReplayCheckFailed
	numReplayFailures
)

// ReplayFailureNames are the reasons' labels, by index.
var ReplayFailureNames = [numReplayFailures]string{"no_server", "server_lost", "read_only", "timeout",
	"commit_in_doubt", "not_replayable", "check_failed"}

// ReplayStats counts transaction replays.
type ReplayStats struct {
	// Started counts replays begun; Succeeded those after which the
	// transaction went on (or, for a lost COMMIT of a read-only
	// transaction or a lost ROLLBACK, was answered OK).
	Started   atomic.Uint64
	Succeeded atomic.Uint64
	// Mismatches counts replays whose results differed (error 1213).
	Mismatches atomic.Uint64
	// TooBig counts transactions whose record outgrew
	// transaction_replay_max_size.
	TooBig atomic.Uint64
	// Failed counts lost transactions not replayed, by reason.
	Failed [numReplayFailures]atomic.Uint64
	// IdempotentRetries counts autocommit statements a query rule marks
	// idempotent that were re-run after their connection was lost.
	IdempotentRetries atomic.Uint64
	// CommitChecks counts lost COMMITs resolved by the commit check
	// (transaction_replay_commit_check); CommitsFound those found
	// committed (answered OK); CommitsReplayed those found not committed
	// and replayed (the replay's own outcome is counted as any replay's).
	CommitChecks    atomic.Uint64
	CommitsFound    atomic.Uint64
	CommitsReplayed atomic.Uint64
	// MarkerErrors counts COMMITs whose marker statement failed (no
	// table, no privilege): they went on without the check.
	MarkerErrors atomic.Uint64
	markerWarned atomic.Bool // the first marker error was logged
}
