package session

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/tracing"
)

// prepared is a statement the client prepared through the proxy. It is
// not tied to a backend connection: each execute runs on whichever
// connection serves it, re-preparing there when that connection has not
// seen the statement yet.
type prepared struct {
	query  string
	params int
	// st is the statement's classification, made once at prepare.
	st router.Stmt
	// types are the parameter types last bound by the client; executes
	// that do not resend them get them inserted when the backend statement
	// has other types bound.
	types []byte
	// long holds COM_STMT_SEND_LONG_DATA packets until the next execute
	// (longdata.go).
	long longData
}

// cursorFlags are COM_STMT_EXECUTE cursor types. rwproxy clears them: the
// server then sends the whole result, which clients handle as a statement
// without a cursor (a cursor would pin the backend connection).
const cursorFlags = mysql.CURSOR_TYPE_READ_ONLY | mysql.CURSOR_TYPE_FOR_UPDATE | mysql.CURSOR_TYPE_SCROLLABLE

func (s *Session) handlePrepare(r *request, pkt []byte) error {
	query := string(pkt[5:])
	st := s.classify(query)
	t, me := s.route(r, &st, query)
	if me != nil {
		return s.writeErr(me)
	}
	r.flags, r.nextTxn, r.digest, r.timeout = 0, false, "", 0 // preparing changes no session state
	r.rule = ruleStmt{}                                       // OK_msg, mirroring: at execute
	if t.sql != query {
		// Rewritten by a rule: the statement is prepared as rewritten
		// (its parameters and result columns are the new text's), and
		// every execute runs the rewritten text.
		query = t.sql
		pkt = append([]byte{0, 0, 0, 0, mysql.COM_STMT_PREPARE}, query...)
	}
	c, me := s.acquireFor(&t)
	if me != nil {
		return s.writeErr(me)
	}
	r.detached = t.detached
	start := time.Now()
	id := s.nextStmt + 1
	s.relayConn = c
	res, h, err := s.sendPrepare(c, pkt, id)
	s.relayConn = nil
	if err != nil && t.reader && !res.Sent && !isClientErr(err) {
		// A prepare changes nothing on the server: one more attempt.
		if c, me = s.retryRead(r, c, &t, err); me != nil {
			return s.writeErr(me)
		}
		s.relayConn = c
		res, h, err = s.sendPrepare(c, pkt, id)
		s.relayConn = nil
		if err != nil {
			s.d.Stats.ReadRetryFailures.Add(1)
		}
	}
	if err == nil && res.Err == nil {
		s.nextStmt = id
		s.stmts[id] = &prepared{query: query, params: h.Params, st: st}
		remember(c, query, h)
	}
	return s.finish(r, c, res, err, start)
}

func (s *Session) sendPrepare(b Backend, pkt []byte, id uint32) (protocol.Response, protocol.PrepareOK, error) {
	if err := writeRequest(b, pkt); err != nil {
		return protocol.Response{}, protocol.PrepareOK{}, err
	}
	return s.relay.ForwardPrepare(s.cl, b.Reader(), id)
}

// remember caches a backend statement on c, closing the ones evicted.
func remember(c *pool.Conn, query string, h protocol.PrepareOK) *pool.Stmt {
	bs := &pool.Stmt{ID: h.StmtID, Params: h.Params}
	for _, old := range c.Stmts.Put(query, bs) {
		closeBackendStmt(c, old)
	}
	return bs
}

func closeBackendStmt(b Backend, id uint32) {
	p := b.Packet()
	p.ResetSequence()
	_ = p.WritePacket([]byte{0, 0, 0, 0, mysql.COM_STMT_CLOSE, byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)})
}

// backendStmt returns c's statement for ps, preparing it when needed. A
// server refusing more statements (1461) makes the cache shrink and the
// prepare run once more.
func (s *Session) backendStmt(c *pool.Conn, ps *prepared) (*pool.Stmt, *mysql.MyError, error) {
	return prepareOn(&s.relay, c, ps.query)
}

// prepareOn returns c's statement for query, preparing it when needed
// (backendStmt; the mirror's copies of executes).
func prepareOn(relay *protocol.Relay, c *pool.Conn, query string) (*pool.Stmt, *mysql.MyError, error) {
	if bs := c.Stmts.Get(query); bs != nil {
		return bs, nil, nil
	}
	for attempt := 0; ; attempt++ {
		p := c.Packet()
		p.ResetSequence()
		pkt := append([]byte{0, 0, 0, 0, mysql.COM_STMT_PREPARE}, query...)
		if err := p.WritePacket(pkt); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", protocol.ErrBackendIO, err)
		}
		h, me, err := relay.Prepare(c.Reader())
		if err != nil {
			return nil, nil, err
		}
		if me == nil {
			return remember(c, query, h), nil, nil
		}
		if me.Code != mysql.ER_MAX_PREPARED_STMT_COUNT_REACHED || attempt > 0 {
			return nil, me, nil
		}
		for _, old := range c.Stmts.Shrink() {
			closeBackendStmt(c, old)
		}
	}
}

func errUnknownStmt(id uint32, fn string) *mysql.MyError {
	return mysql.NewDefaultError(mysql.ER_UNKNOWN_STMT_HANDLER, 10, fmt.Sprint(id), fn)
}

// handleExecute runs COM_STMT_EXECUTE on the connection its statement
// routes to, rewriting the statement id (and the parameter types when the
// backend statement has other ones bound), then relays the binary result.
func (s *Session) handleExecute(r *request, pkt []byte) error {
	var tp string
	if s.qattrs {
		var me *mysql.MyError
		if pkt, tp, me = s.plainExecute(pkt); me != nil {
			return s.writeErr(me)
		}
	}
	if s.observed() {
		return s.traced(r, pkt, s.executeQuery(pkt), tp, tracing.OpExecute)
	}
	return s.runExecute(r, pkt)
}

// runExecute is handleExecute without tracing.
func (s *Session) runExecute(r *request, pkt []byte) error {
	pl := pkt[4:]
	if len(pl) < 10 {
		return s.writeErr(protocol.NewErrMalformed("COM_STMT_EXECUTE"))
	}
	id := binary.LittleEndian.Uint32(pl[1:5])
	ps := s.stmts[id]
	if ps == nil {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_execute"))
	}
	if me := ps.long.err; me != nil {
		s.clearLongData(ps)
		return s.writeErr(me)
	}
	pl[5] &^= cursorFlags
	typesAt, bound, ok := paramLayout(pl, ps.params)
	if !ok {
		return s.writeErr(protocol.NewErrMalformed("COM_STMT_EXECUTE parameters"))
	}
	if types := pl[typesAt : typesAt+2*ps.params]; bound && !bytes.Equal(types, ps.types) {
		// A fresh slice: backend statements' Types alias the old one
		// (execute). Clients that resend the same types with every execute
		// (go-mysql, libmysqlclient) cost no allocation.
		ps.types = append([]byte(nil), types...)
	}
	r.exec = execState{ps: ps, typesAt: typesAt, bound: bound}
	t, me := s.route(r, &ps.st, ps.query)
	if me != nil {
		return s.writeErr(me)
	}
	if ok, err := s.answerOKMsg(r); ok {
		s.clearLongData(ps)
		return err
	}
	mj, mok := s.mirrorExec(r, ps, pkt, typesAt, bound)
	err := s.runStmtQC(r, pkt, &ps.st, ps.query, t, opExecute)
	s.sendMirror(mj, mok)
	return err
}

// execState is the COM_STMT_EXECUTE being run (see execute).
type execState struct {
	ps      *prepared
	typesAt int
	bound   bool
}

// paramLayout finds where the parameter types start in an execute payload
// and whether the client sent them.
func paramLayout(pl []byte, params int) (typesAt int, bound, ok bool) {
	if params == 0 {
		return 0, false, true
	}
	flagAt := 10 + (params+7)/8
	if len(pl) <= flagAt {
		return 0, false, false
	}
	typesAt = flagAt + 1
	if pl[flagAt] == 1 {
		return typesAt, true, len(pl) >= typesAt+2*params
	}
	return typesAt, false, true
}

func (s *Session) execute(r *request, c *pool.Conn, pkt []byte) (protocol.Response, error) {
	ps, typesAt, bound := r.exec.ps, r.exec.typesAt, r.exec.bound
	bs, me, err := s.backendStmt(c, ps)
	if err != nil {
		return protocol.Response{}, err
	}
	if me != nil {
		return protocol.Response{Err: me}, s.writeErr(me)
	}
	if ps.params > 0 && !bound && !bytes.Equal(bs.Types, ps.types) {
		if len(ps.types) != 2*ps.params {
			me := protocol.NewErrMalformed("parameters were never bound")
			return protocol.Response{Err: me}, s.writeErr(me)
		}
		pkt = withTypes(pkt, 4+typesAt, ps.types)
	}
	if ps.params > 0 {
		bs.Types = ps.types
	}
	bp := c.Packet()
	for _, ld := range ps.long.chunks {
		binary.LittleEndian.PutUint32(ld[5:9], bs.ID)
		bp.ResetSequence()
		if err := bp.WritePacket(ld); err != nil {
			return protocol.Response{}, fmt.Errorf("%w: %v", protocol.ErrBackendIO, err)
		}
	}
	s.clearLongData(ps)
	binary.LittleEndian.PutUint32(pkt[5:9], bs.ID)
	pkt, ok := s.forBackend(c, pkt, ps)
	if !ok {
		me := protocol.NewErrMalformed("COM_STMT_EXECUTE")
		return protocol.Response{Err: me}, s.writeErr(me)
	}
	return s.send(c, pkt, fwdResult)
}

// withTypes returns a copy of the execute packet with new-params-bound set
// and types inserted at off (the byte after the flag).
func withTypes(pkt []byte, off int, types []byte) []byte {
	out := make([]byte, 0, len(pkt)+len(types))
	out = append(out, pkt[:off]...)
	out[off-1] = 1
	out = append(out, types...)
	return append(out, pkt[off:]...)
}

// handleLongData buffers a parameter chunk until the next execute (the
// command has no response).
func (s *Session) handleLongData(pkt []byte) {
	if len(pkt) < 11 {
		return
	}
	ps := s.stmts[binary.LittleEndian.Uint32(pkt[5:9])]
	if ps == nil {
		return
	}
	s.addLongData(ps, pkt)
}

func (s *Session) handleStmtClose(pkt []byte) {
	if len(pkt) >= 9 {
		id := binary.LittleEndian.Uint32(pkt[5:9])
		if ps := s.stmts[id]; ps != nil {
			s.clearLongData(ps)
		}
		delete(s.stmts, id)
	}
}

func (s *Session) handleStmtReset(pkt []byte) error {
	if len(pkt) < 9 {
		return s.writeErr(protocol.NewErrMalformed("COM_STMT_RESET"))
	}
	id := binary.LittleEndian.Uint32(pkt[5:9])
	ps := s.stmts[id]
	if ps == nil {
		return s.writeErr(errUnknownStmt(id, "mysqld_stmt_reset"))
	}
	s.clearLongData(ps)
	return s.writeOK()
}
