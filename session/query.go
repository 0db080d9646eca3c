package session

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/tracing"
)

// hostgroup is the session's writer hostgroup.
func (s *Session) hostgroup() int { return s.user.DefaultHostgroup }

// handleQuery runs COM_QUERY, traced when a tracer is set.
func (s *Session) handleQuery(r *request, pkt []byte) error {
	var tp string
	if s.qattrs {
		var me *mysql.MyError
		if pkt, tp, me = stripQueryAttrs(pkt); me != nil {
			return s.writeErr(me)
		}
	}
	if s.observed() {
		return s.traced(r, pkt, bytesToString(pkt[5:]), tp, tracing.OpQuery)
	}
	return s.runQuery(r, pkt)
}

// runQuery classifies and routes COM_QUERY, then relays it.
func (s *Session) runQuery(r *request, pkt []byte) error {
	if s.d.QueryHook != nil {
		s.d.QueryHook(pkt[5:])
	}
	sql := bytesToString(pkt[5:])
	st := s.classifyQuery(sql)
	if st.Flags&router.FlagKill != 0 {
		return s.handleKill(sql)
	}
	if st.Flags&router.FlagLoadLocal != 0 && s.caps&mysql.CLIENT_LOCAL_FILES == 0 {
		// As a server does: the client cannot send a file it did not
		// offer to send. (Should the classifier miss a form, the relay
		// refuses the server's file request the same way.)
		return s.writeErr(protocol.NewErrLoadInfileDisabled())
	}
	t, me := s.route(r, &st, sql)
	if me != nil {
		return s.writeErr(me)
	}
	if ok, err := s.answerOKMsg(r); ok {
		return err
	}
	if t.sql != sql {
		pkt = comQuery(t.sql) // rewritten by a rule
	}
	mj, mok := s.mirrorText(r, &st, t.sql)
	err := s.runStmtQC(r, pkt, &st, t.sql, t, opQuery)
	s.sendMirror(mj, mok)
	return err
}

// handleInitDB relays COM_INIT_DB; the schema tracker in the OK packet
// updates the session, and an explicit update covers servers that do not
// report an unchanged schema.
func (s *Session) handleInitDB(r *request, pkt []byte) error {
	db := string(pkt[5:])
	if me := schemaLocked(s.user, db); me != nil {
		return s.writeErr(me)
	}
	t := s.writerTarget()
	c, me := s.acquireFor(&t)
	if me != nil {
		return s.writeErr(me)
	}
	s.relayConn, r.hg = c, t.hg
	start := timeNow() // latency from the request, as for statements
	res, err := s.send(c, pkt, fwdResult)
	s.relayConn = nil
	if err == nil && res.Err == nil {
		s.st.db, c.DB = db, db
	}
	return s.finish(r, c, res, err, start)
}

// checkDB verifies on a backend that db exists, for a schema named in the
// handshake. It runs before the handshake's OK packet. The connection is
// taken for the schema (sync runs USE db unless it is there already), so
// that it goes back to the pool of connections with a schema. Logins that
// name the same schema meanwhile wait for this check (schemaChecks).
func (s *Session) checkDB(db string) error {
	s.st.db = db
	hg := s.hostgroup()
	me := s.d.Registry.schemas.do(schemaKey{user: s.user.Username, hg: hg, db: db}, func() *mysql.MyError {
		c, me := s.acquireWriter(hg)
		if me != nil {
			return me
		}
		c.Recycle()
		return nil
	})
	if me != nil {
		s.st.db = ""
		return me
	}
	return nil
}

func (s *Session) handleFieldList(r *request, pkt []byte) error {
	return s.runStmt(r, pkt, s.writerTarget(), opFieldList)
}

func (s *Session) handleStatistics(r *request, pkt []byte) error {
	return s.runStmt(r, pkt, s.writerTarget(), opStatistics)
}

// handleSetOption records multi-statements on/off; backend connections
// follow it when they are synced.
func (s *Session) handleSetOption(pkt []byte) error {
	if len(pkt) < 7 {
		return s.writeErr(protocol.NewErrMalformed("COM_SET_OPTION"))
	}
	switch pkt[5] {
	case 0:
		s.st.multiStatements = true
	case 1:
		s.st.multiStatements = false
	default:
		return s.writeErr(protocol.NewErrUnknownCommand(mysql.COM_SET_OPTION))
	}
	if s.pinned != nil && s.pinned.MultiStatements != s.st.multiStatements {
		if err := setOption(s.pinned, s.st.multiStatements); err != nil {
			s.dropConn(s.pinned)
		}
	}
	return s.writeEOF()
}

// handleResetConnection resets the session as a server would: transaction
// rolled back, variables, temporary tables and prepared statements gone;
// the schema stays.
func (s *Session) handleResetConnection() error {
	s.resetState(s.charset)
	return s.writeOK()
}

// resetState drops the session's state and returns its pinned connection
// to the pool after resetting it on the server.
func (s *Session) resetState(collation int) {
	s.endTxnSpan(time.Time{}, "rollback")
	if s.pinned != nil {
		c := s.pinned
		s.pinned = nil
		s.resetAndRecycle(c)
	}
	s.releaseHeld()
	s.pins, s.counted = 0, 0
	s.inTxn, s.roTxn, s.txnAborted = false, false, false
	s.tx.reset()
	s.st.unreplayable = false
	s.st.initCharset(collation)
	clear(s.stmts)
	s.longHeld = 0 // the statements held it
}

// authCheck wraps the shared authentication handler for one connection:
// before the client is told it is logged in, the user's connection limit is
// enforced and the schema named in the handshake is checked on a backend.
type authCheck struct {
	server.AuthenticationHandler
	hs    *handshake
	check func(c *server.Conn, db string) error
}

// OnAuthSuccess runs the schema check; an error is sent instead of OK.
func (a *authCheck) OnAuthSuccess(c *server.Conn) error {
	if err := a.AuthenticationHandler.OnAuthSuccess(c); err != nil {
		return err
	}
	return a.check(c, a.hs.db)
}

// schemaLocked refuses a schema other than the user's default_schema to a
// schema_locked user (ProxySQL's mysql_users.schema_locked).
func schemaLocked(u config.User, db string) *mysql.MyError {
	if !u.SchemaLocked || db == "" || db == u.DefaultSchema {
		return nil
	}
	return &mysql.MyError{Code: mysql.ER_DBACCESS_DENIED_ERROR, State: "42000",
		Message: fmt.Sprintf("Access denied for user '%s' to database '%s' (schema_locked to '%s')",
			u.Username, db, u.DefaultSchema)}
}

// useTarget returns the schema a USE statement names ("USE `db`;" -> db).
func useTarget(sql string) string {
	s := strings.TrimSpace(sql)
	if len(s) >= 3 && strings.EqualFold(s[:3], "use") {
		s = s[3:]
	}
	s = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), ";"))
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		s = strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}
