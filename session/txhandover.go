package session

import (
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/router"
)

// A transaction handed over by a zero-downtime upgrade continues on its
// pinned backend connection in the new process, and its replay record
// (txreplay.go: the requests with their parameters, the checksum of each
// result, the prepared statements a COM_STMT_CLOSE may already have
// dropped) travels with it in the durable state (Durable.Tx, version 2):
// if its server is lost later, the new process replays it as the old one
// would have.
//
// From an older binary (version 1) no record comes: the adopted session
// marks its open transaction as not replayable at once. If its server is
// lost before the transaction ends, the client gets the error it would
// get without transaction_replay, never a replay of a partial record.
// The caller counts these transactions (Stats.TxnsWithoutReplay in
// internal/handover).

// DurableTx is the replay state of a session (txLog): its open
// transaction's record, and the sequence of its commit markers.
type DurableTx struct {
	// Open: a transaction is recorded (or one a SET TRANSACTION is about
	// to start); Broken: it cannot be replayed (no entries then).
	Open   bool `json:"open,omitempty"`
	Broken bool `json:"broken,omitempty"`
	// Writes: a recorded statement wrote; HG / Reader: where the
	// transaction started (a hostgroup of the configuration both
	// processes run).
	Writes bool `json:"writes,omitempty"`
	HG     int  `json:"hg,omitempty"`
	Reader bool `json:"reader,omitempty"`
	// Seq numbers the session's marked COMMITs (commitcheck.go).
	Seq     uint64           `json:"seq,omitempty"`
	Entries []DurableTxEntry `json:"entries,omitempty"`
}

// DurableTxEntry is one recorded request: its packet (COM_QUERY, or
// COM_STMT_EXECUTE with its parameters and their types), its kind, the
// checksum of its result, and for an execute its prepared statement (ID:
// the client's id when the client still has it open, else 0).
type DurableTxEntry struct {
	Packet []byte       `json:"packet"`
	Kind   string       `json:"kind"`
	Sum    uint64       `json:"sum"`
	Stmt   *DurableStmt `json:"stmt,omitempty"`
}

// exportTx is the session's replay state; nil when there is nothing to
// carry (no recorded transaction, no marked COMMIT). A transaction that is
// not recorded (replay off, or turned on after it began) has no record
// either: the new process counts it as going on without replay.
func (s *Session) exportTx() *DurableTx {
	if !s.tx.open && s.tx.seq == 0 {
		return nil
	}
	d := &DurableTx{Open: s.tx.open, Broken: s.tx.broken, Writes: s.tx.writes, HG: s.tx.hg, Reader: s.tx.reader,
		Seq: s.tx.seq}
	if !s.tx.open || s.tx.broken {
		return d
	}
	for _, e := range s.tx.ents {
		de := DurableTxEntry{Packet: slices.Clone(s.tx.buf[e.off : e.off+e.n]), Kind: e.kind.String(), Sum: e.sum}
		if ps := e.ps; ps != nil {
			de.Stmt = &DurableStmt{Query: ps.query, Params: ps.params, Types: slices.Clone(ps.types)}
			for id, cur := range s.stmts {
				if cur == ps {
					de.Stmt.ID = id
					break
				}
			}
		}
		d.Entries = append(d.Entries, de)
	}
	return d
}

// restoreTx loads a replay state exported by exportTx. A record this
// process cannot use (larger than its transaction_replay_max_size, a
// statement kind it does not know, a malformed entry) makes the
// transaction not replayable; the session is adopted all the same.
func (s *Session) restoreTx(d *DurableTx) {
	if d == nil {
		return
	}
	s.tx.reset()
	s.tx.seq = d.Seq
	if !d.Open {
		return
	}
	s.tx.open, s.tx.broken, s.tx.writes, s.tx.hg, s.tx.reader = true, d.Broken, d.Writes, d.HG, d.Reader
	if d.Broken {
		return
	}
	size := 0
	for _, e := range d.Entries {
		size += len(e.Packet)
	}
	if s.d.Routing != nil && size > s.d.Routing().Replay.MaxSize {
		s.txBreak()
		return
	}
	for _, e := range d.Entries {
		kind, ok := kindNamed(e.Kind)
		execute := len(e.Packet) >= 5 && e.Packet[4] == mysql.COM_STMT_EXECUTE
		// An execute's statement id (bytes 5..8) is rewritten at replay.
		if !ok || len(e.Packet) < 5 || execute != (e.Stmt != nil) || (execute && len(e.Packet) < 9) {
			s.txBreak()
			return
		}
		ent := txEntry{off: len(s.tx.buf), n: len(e.Packet), kind: kind, sum: e.Sum}
		if ds := e.Stmt; ds != nil {
			ent.ps = s.stmts[ds.ID]
			if ds.ID == 0 || ent.ps == nil || ent.ps.query != ds.Query {
				// Closed by the client since: the record keeps it.
				ent.ps = &prepared{query: ds.Query, params: ds.Params, types: slices.Clone(ds.Types),
					st: s.cls.Classify(ds.Query)}
			}
		}
		s.tx.buf = append(s.tx.buf, e.Packet...)
		s.tx.ents = append(s.tx.ents, ent)
	}
}

// kindNamed is the statement kind whose String is name.
func kindNamed(name string) (router.Kind, bool) {
	for k := router.Kind(0); k < 64; k++ {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

// txAdopted marks the open transaction of a session adopted without a
// replay record (from an older binary) as not replayable; it reports
// whether there was one under transaction_replay. withRecord: the record
// came with the session.
func (s *Session) txAdopted(withRecord bool) bool {
	if withRecord || !s.inTxn || !s.d.Routing().Replay.On {
		return false
	}
	s.tx.reset()
	s.tx.open, s.tx.broken = true, true
	return true
}

// ReplayOff reports whether the adopted session's open transaction lost
// its replay record in the handover (see txAdopted).
func (a *Adopted) ReplayOff() bool { return a.replayOff }
