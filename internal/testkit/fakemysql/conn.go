package fakemysql

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"
)

// stmt is a statement prepared on one connection.
type stmt struct {
	query  string
	params int
}

// conn is one logged-in client connection, served by one goroutine.
type conn struct {
	s     *Server
	gc    *gmserver.Conn
	nc    net.Conn
	id    uint32
	stmts map[uint32]stmt
	next  uint32
	// kill receives a KILL QUERY for this connection.
	kill      chan struct{}
	closeOnce sync.Once
}

func (c *conn) close() { c.closeOnce.Do(func() { _ = c.nc.Close() }) }

// loop reads and answers commands until the client quits or the
// connection breaks.
func (c *conn) loop() {
	c.gc.SetStatus(mysql.SERVER_STATUS_AUTOCOMMIT)
	for {
		c.gc.ResetSequence()
		pkt, err := c.gc.ReadPacket()
		if err != nil || len(pkt) == 0 {
			return
		}
		if !c.command(pkt[0], pkt[1:]) {
			c.close()
			return
		}
	}
}

// command answers one command; false ends the connection.
func (c *conn) command(cmd byte, data []byte) bool {
	arg := ""
	switch cmd {
	case mysql.COM_QUERY, mysql.COM_INIT_DB, mysql.COM_STMT_PREPARE:
		arg = string(data)
	case mysql.COM_STMT_EXECUTE:
		if len(data) >= 4 {
			arg = c.stmts[binary.LittleEndian.Uint32(data)].query
		}
	}
	c.s.record(Command{Conn: c.id, User: c.gc.GetUser(), Cmd: cmd, Arg: arg})
	switch cmd {
	case mysql.COM_QUIT:
		return false
	case mysql.COM_QUERY:
		return c.query(arg, false)
	case mysql.COM_STMT_PREPARE:
		return c.prepare(arg)
	case mysql.COM_STMT_EXECUTE:
		return c.execute(data)
	case mysql.COM_STMT_CLOSE:
		if len(data) >= 4 {
			delete(c.stmts, binary.LittleEndian.Uint32(data))
		}
		return true // no reply
	case mysql.COM_INIT_DB:
		return c.initDB(arg)
	case mysql.COM_PING, mysql.COM_STMT_RESET:
		return c.write(nil)
	case mysql.COM_RESET_CONNECTION:
		c.gc.ClearInTransaction()
		clear(c.stmts)
		return c.write(nil)
	case mysql.COM_SET_OPTION:
		return c.eof()
	case mysql.COM_FIELD_LIST:
		return c.eof()
	case mysql.COM_STATISTICS:
		return c.gc.WritePacket(append(make([]byte, 4), "Uptime: 1"...)) == nil
	}
	return c.write(mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command"))
}

// initDB answers COM_INIT_DB: the rules are matched against "USE db"
// (their Delay, Err and Cut apply); the OK reports the new schema.
func (c *conn) initDB(db string) bool {
	r, _ := c.s.reply("USE " + db)
	if r.Delay > 0 && !c.wait(r.Delay) {
		return c.write(mysql.NewError(mysql.ER_QUERY_INTERRUPTED, "Query execution was interrupted"))
	}
	switch {
	case r.Cut != CutNone:
		return false
	case r.Err != nil:
		return c.write(r.Err)
	}
	return c.write(&mysql.Result{Status: mysql.SERVER_SESSION_STATE_CHANGED,
		SessionTracking: &mysql.SessionTrackingInfo{Schema: db}})
}

// query answers a statement: the newest matching rule, else the built-in
// behaviour; binary: the reply of a COM_STMT_EXECUTE.
func (c *conn) query(q string, binary bool) bool {
	r, ok := c.s.reply(q)
	if !ok {
		return c.builtin(q, binary)
	}
	if r.Delay > 0 && !c.wait(r.Delay) {
		return c.write(mysql.NewError(mysql.ER_QUERY_INTERRUPTED, "Query execution was interrupted"))
	}
	switch r.Cut {
	case CutBefore:
		return false
	case CutMid:
		f := &mysql.Field{Name: []byte("c"), Type: mysql.MYSQL_TYPE_LONGLONG, Charset: 63}
		_ = c.gc.WritePacket(append(make([]byte, 4), 2))
		_ = c.gc.WritePacket(append(make([]byte, 4), f.Dump()...))
		return false
	}
	switch {
	case r.Err != nil:
		return c.write(r.Err)
	case r.Cols != nil:
		rs, err := mysql.BuildSimpleResultset(r.Cols, r.Rows, binary)
		if err != nil {
			return c.write(mysql.NewError(mysql.ER_UNKNOWN_ERROR, "fakemysql: "+err.Error()))
		}
		return c.write(mysql.NewResult(rs))
	case r.OK != nil:
		ok := *r.OK
		c.track(ok.Status)
		return c.write(&ok)
	}
	return c.builtin(q, binary)
}

// builtin is the answer to a statement no rule matched.
func (c *conn) builtin(q string, binary bool) bool {
	l := strings.ToLower(strings.TrimRight(strings.TrimSpace(q), ";"))
	switch {
	case l == "begin" || strings.HasPrefix(l, "start transaction"):
		c.gc.SetInTransaction()
	case l == "commit" || l == "rollback":
		c.gc.ClearInTransaction()
	case l == "select @@port":
		return c.rows([]string{"@@port"}, [][]any{{int64(c.s.Port)}}, binary)
	case l == "select connection_id()":
		return c.rows([]string{"CONNECTION_ID()"}, [][]any{{int64(c.id)}}, binary)
	case strings.HasPrefix(l, "kill "):
		id, query, ok := parseKill(l)
		if !ok || !c.s.killQuery(id, query) {
			return c.write(mysql.NewDefaultError(mysql.ER_NO_SUCH_THREAD, id))
		}
	}
	return c.write(nil)
}

// track keeps the connection's transaction flag in step with a scripted
// OK packet's status.
func (c *conn) track(status uint16) {
	if status&mysql.SERVER_STATUS_IN_TRANS != 0 {
		c.gc.SetInTransaction()
	}
}

func (c *conn) rows(cols []string, rows [][]any, binary bool) bool {
	rs, err := mysql.BuildSimpleResultset(cols, rows, binary)
	if err != nil {
		return c.write(err)
	}
	return c.write(mysql.NewResult(rs))
}

// wait holds a reply back for d; false: a KILL QUERY interrupted it.
func (c *conn) wait(d time.Duration) bool {
	select {
	case <-c.kill: // a KILL sent before this statement does not count
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.kill:
		return false
	case <-c.s.done:
		return true
	}
}

func (c *conn) prepare(q string) bool {
	r, _ := c.s.reply(q)
	if r.Err != nil {
		return c.write(r.Err)
	}
	if r.Cut != CutNone {
		return false
	}
	c.next++
	st := &gmserver.Stmt{Query: q}
	st.ID = c.next
	st.Params = strings.Count(q, "?")
	st.Columns = len(r.Cols)
	c.stmts[st.ID] = stmt{query: q, params: st.Params}
	return c.write(st)
}

// execute answers COM_STMT_EXECUTE of a statement prepared on this
// connection (an unknown id is error 1243, as a server says).
func (c *conn) execute(data []byte) bool {
	if len(data) < 4 {
		return c.write(mysql.NewError(mysql.ER_MALFORMED_PACKET, "Malformed packet"))
	}
	id := binary.LittleEndian.Uint32(data)
	st, ok := c.stmts[id]
	if !ok {
		return c.write(mysql.NewError(mysql.ER_UNKNOWN_STMT_HANDLER,
			fmt.Sprintf("Unknown prepared statement handler (%d) given to mysqld_stmt_execute", id)))
	}
	return c.query(st.query, true)
}

// write sends a reply value (see go-mysql's Conn.WriteValue); false: the
// connection broke.
func (c *conn) write(v any) bool {
	if r, ok := v.(*mysql.Result); ok && r == nil {
		v = nil
	}
	return c.gc.WriteValue(v) == nil
}

func (c *conn) eof() bool {
	st := uint16(mysql.SERVER_STATUS_AUTOCOMMIT)
	if c.gc.IsInTransaction() {
		st |= mysql.SERVER_STATUS_IN_TRANS
	}
	return c.gc.WritePacket([]byte{0, 0, 0, 0, mysql.EOF_HEADER, 0, 0, byte(st), byte(st >> 8)}) == nil
}
