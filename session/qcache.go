package session

import (
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/qcache"
	"github.com/rwproxy/rwproxy/router"
)

// qcState is the session's query cache state (docs/query-cache.md).
type qcState struct {
	// writes are the tables this session wrote (its read-your-writes
	// record, unless its user's shared one applies).
	writes qcache.Writes
	// txnTables are the tables written in the open transaction, to
	// invalidate again when it ends (txnAll: one write's tables were not
	// known).
	txnTables []string
	txnAll    bool
	// stmtTables are the tables of this session's prepared writes.
	stmtTables map[*prepared]stmtTables
	// out is the buffer a hit's packets are written from; params the
	// buffer of an execute's key parameters.
	out, params []byte
}

type stmtTables struct {
	tables []string
	all    bool
}

// maxTxnTables bounds txnTables; past it the transaction's end
// invalidates every entry.
const maxTxnTables = 64

// uncacheable are the flags of reads whose results depend on more than the
// statement, the tables and the session variables in the key, or that
// change session state.
const uncacheable = router.FlagLockingRead | router.FlagSelectInto | router.FlagUserVarRead | router.FlagUserVarWrite |
	router.FlagGetLock | router.FlagLastInsertID | router.FlagSequence | router.FlagFoundRows | router.FlagMulti |
	router.FlagParseError | router.FlagPrevStmtInfo | router.FlagSystemVarRead | router.FlagCreateTempTable

// runStmtQC is runStmt with the query cache in front when it is in use:
// cacheable reads are served from it or fill it, writes invalidate it.
func (s *Session) runStmtQC(r *request, pkt []byte, st *router.Stmt, sql string, t target, o op) error {
	if qc := s.d.Routing().QueryCache; qc != nil && st.Kind == router.KindRead && r.cache.TTL > 0 && s.cacheableNow(r, st) {
		err := s.readThrough(r, qc, pkt, sql, t, o)
		s.endTxnWrites(qc)
		return err
	}
	err := s.runStmt(r, pkt, t, o)
	// The cache is looked up after the statement, so that a write that
	// completes after the first caching rule was loaded invalidates too.
	qc := s.d.Routing().QueryCache
	if qc == nil {
		return err
	}
	if st.Kind == router.KindWrite {
		// The reply is in the client's write buffer: it leaves when the
		// session next reads, after the entries are gone.
		tables, all := s.writeTables(r, st, sql, o)
		s.qcNoteWrite(qc, tables, all)
	}
	s.endTxnWrites(qc)
	return err
}

// cacheableNow reports whether st may be served from the cache or fill
// it: an autocommit read outside a transaction on an unpinned session,
// whose result depends only on what the key holds.
func (s *Session) cacheableNow(r *request, st *router.Stmt) bool {
	return st.Flags&uncacheable == 0 && s.pinned == nil && !s.inTxn && s.st.autocommit() && !s.user.FastForward &&
		(r.exec.ps == nil || len(r.exec.ps.long.chunks) == 0)
}

// readThrough serves a cacheable read from the cache, or runs it and
// stores its result.
func (s *Session) readThrough(r *request, qc *qcache.Cache, pkt []byte, sql string, t target, o op) error {
	k := s.qcKey(r, sql, o)
	w, scope := s.qcWrites(qc)
	if e := qc.Get(&k, w, scope, time.Now().UnixNano()); e != nil {
		return s.serveCached(r, e)
	}
	f, wait := qc.Begin(&k)
	if f == nil {
		// Another session is reading the same statement.
		if r.cache.Timeout > 0 && s.waitFill(wait, r.cache.Timeout) {
			if e := qc.Get(&k, w, scope, time.Now().UnixNano()); e != nil {
				return s.serveCached(r, e)
			}
		}
		return s.runStmt(r, pkt, t, o)
	}
	// The fill ends whatever happens (after Commit, Abort does nothing),
	// so that no session waiting on it is left waiting.
	defer qc.Abort(f)
	tables, ok := s.cls.Tables(sql, s.st.db)
	if !ok {
		return s.runStmt(r, pkt, t, o)
	}
	s.relay.Tap = f.Add
	defer func() { s.relay.Tap = nil }()
	err := s.runStmt(r, pkt, t, o)
	rows, complete := f.Result(s.caps&mysql.CLIENT_DEPRECATE_EOF != 0)
	if err != nil || !complete || (rows == 0 && !r.cache.Empty) {
		return err
	}
	src := qcache.Source{Writer: r.hg == s.user.DefaultHostgroup, Scope: scope,
		RYW: s.ryw && s.rywWant() != nil}
	qc.Commit(f, tables, src, time.Now().UnixNano(), int64(r.cache.TTL))
	return nil
}

// waitFill waits up to d for another session's fill to end; false when
// the wait timed out or the session is ending.
func (s *Session) waitFill(done <-chan struct{}, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-done:
		return true
	case <-tm.C:
	case <-s.ctx.Done():
	}
	return false
}

// serveCached writes a cached result to the client.
func (s *Session) serveCached(r *request, e *qcache.Entry) error {
	r.cmd = -1 // no backend command to count (stats_mysql_commands_counters)
	err := e.Packets(func(p []byte) error {
		s.qc.out = append(append(s.qc.out[:0], 0, 0, 0, 0), p...)
		return protocol.WriteRaw(s.cl, s.qc.out)
	})
	if cap(s.qc.out) > maxKeptHitBuf {
		s.qc.out = nil // an idle session keeps no large buffer
	}
	return err
}

// maxKeptHitBuf bounds the hit buffer a session keeps between hits.
const maxKeptHitBuf = 16 << 10

// qcKey is the statement's cache key. The key's strings alias sql and the
// session's state: Begin copies them.
func (s *Session) qcKey(r *request, sql string, o op) qcache.Key {
	k := qcache.Key{User: s.user.Username, DB: s.st.db, SQL: sql, Vars: s.varsHash(),
		Class: s.caps & (mysql.CLIENT_DEPRECATE_EOF | mysql.CLIENT_SESSION_TRACK | mysql.CLIENT_PROTOCOL_41)}
	if o == opExecute {
		k.Class |= 1 << 31
		k.Params = s.execParams(r)
	}
	return k
}

// varsHash hashes every session variable the session tracks (character
// sets, collation, sql_mode, time zone, ...) and its login collation,
// independently of the map's order.
func (s *Session) varsHash() uint64 {
	h := uint64(s.charset)
	var d xxhash.Digest
	for k, v := range s.st.vars {
		d.Reset()
		_, _ = d.WriteString(k)
		_, _ = d.WriteString("=")
		_, _ = d.WriteString(v)
		h += d.Sum64()
	}
	return h
}

// execParams are the parts of the COM_STMT_EXECUTE being run that select
// its result: the parameter types in effect, the null bitmap and the
// values.
func (s *Session) execParams(r *request) []byte {
	ps := r.exec.ps
	if ps == nil || ps.params == 0 {
		return nil
	}
	pl := s.cmd.b[4:]
	nb := (ps.params + 7) / 8
	values := r.exec.typesAt
	if r.exec.bound {
		values += 2 * ps.params
	}
	if values > len(pl) {
		return nil
	}
	out := append(s.qc.params[:0], ps.types...) // reused: Begin copies the key
	out = append(out, pl[10:10+nb]...)
	out = append(out, pl[values:]...)
	if cap(out) <= maxKeptHitBuf {
		s.qc.params = out
	}
	return out
}

// qcWrites returns the write record the session's reads are checked
// against, and the scope that names it: the user's shared one under
// read_your_writes at user scope, else the session's own.
func (s *Session) qcWrites(qc *qcache.Cache) (*qcache.Writes, uint64) {
	if s.userPos != nil {
		return qc.UserWrites(s.user.Username), xxhash.Sum64String(s.user.Username) &^ 1
	}
	return &s.qc.writes, uint64(s.id)<<1 | 1
}

// writeTables returns the tables a write changes; all when they are not
// known (unparsable, a CALL, a multi-statement that may change schema,
// SQL-level EXECUTE, no table named).
func (s *Session) writeTables(r *request, st *router.Stmt, sql string, o op) (tables []string, all bool) {
	if st.Flags&(router.FlagMulti|router.FlagParseError|router.FlagCall|router.FlagExecuteSQL) != 0 {
		return nil, true
	}
	if o == opExecute && r.exec.ps != nil {
		if s.qc.stmtTables == nil {
			s.qc.stmtTables = make(map[*prepared]stmtTables)
		}
		if known, ok := s.qc.stmtTables[r.exec.ps]; ok {
			return known.tables, known.all
		}
		defer func() {
			if len(s.qc.stmtTables) >= maxTrackedStmts {
				clear(s.qc.stmtTables)
			}
			s.qc.stmtTables[r.exec.ps] = stmtTables{tables: tables, all: all}
		}()
	}
	tables, ok := s.cls.Tables(sql, s.st.db)
	if !ok || len(tables) == 0 {
		return nil, true
	}
	return tables, false
}

// maxTrackedStmts bounds the prepared writes whose tables are remembered.
const maxTrackedStmts = 256

// qcNoteWrite invalidates what a completed write may have changed and
// records it for the session's (or user's) reads; inside a transaction
// the tables are invalidated again when it ends.
func (s *Session) qcNoteWrite(qc *qcache.Cache, tables []string, all bool) {
	s.qcInvalidate(qc, tables, all)
	if !s.inTxn {
		return
	}
	if all || len(s.qc.txnTables)+len(tables) > maxTxnTables {
		s.qc.txnAll, s.qc.txnTables = true, s.qc.txnTables[:0]
		return
	}
	if !s.qc.txnAll {
		s.qc.txnTables = append(s.qc.txnTables, tables...)
	}
}

// endTxnWrites invalidates the tables written in a transaction once it
// has ended (committed or not: a rolled-back write changed nothing, and
// invalidating is always safe).
func (s *Session) endTxnWrites(qc *qcache.Cache) {
	if s.inTxn || (!s.qc.txnAll && len(s.qc.txnTables) == 0) {
		return
	}
	s.qcInvalidate(qc, s.qc.txnTables, s.qc.txnAll)
	s.qc.txnTables, s.qc.txnAll = s.qc.txnTables[:0], false
}

// qcInvalidate removes the entries that read tables (every entry with
// all) and records the write for the session's (or user's) reads.
func (s *Session) qcInvalidate(qc *qcache.Cache, tables []string, all bool) {
	var seq uint64
	if all {
		seq = qc.InvalidateAll()
	} else {
		seq = qc.Invalidate(tables)
	}
	w, _ := s.qcWrites(qc)
	w.Note(tables, seq, all)
}
