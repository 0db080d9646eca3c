package pool

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/protocol"
)

// Conn is one backend connection and what rwproxy knows of its session
// state, so that a session can bring it to its own state with a minimal
// diff instead of a reset.
type Conn struct {
	*client.Conn
	pool     *Pool
	created  time.Time
	lastUsed time.Time
	// outAt (unix ns) is when the pool last handed the connection out,
	// for put to time the checkout (server.timeHold); 0 when this
	// checkout is not timed. checkouts counts them (holdSample).
	outAt     int64
	checkouts uint32

	// DB is the current schema on the backend ("" = none).
	DB string
	// Vars holds session variables that differ from the server defaults on
	// this connection, as applied (lower-case name → value).
	Vars map[string]string
	// MultiStatements is the connection's COM_SET_OPTION state.
	MultiStatements bool
	// LastInsertID is what LAST_INSERT_ID() returns on this connection.
	LastInsertID uint64
	// Stmts caches statements prepared on this connection, by SQL text.
	Stmts *StmtCache
	// reader reads responses for the relay (Reader); nil until then.
	reader *protocol.BackendReader
	// released is set when the connection goes back to its pool (Recycle)
	// or is closed (Discard), and cleared when the pool hands it out
	// again: a second release of the same checkout is a no-op, so that a
	// caller's double release can never count a connection twice, put a
	// closed connection on the idle list or free a slot twice.
	released atomic.Bool
	// queryAttrs: CLIENT_QUERY_ATTRIBUTES was negotiated (Options).
	queryAttrs bool
}

// QueryAttrs reports whether the connection negotiated
// CLIENT_QUERY_ATTRIBUTES: COM_QUERY and COM_STMT_EXECUTE sent on it must
// carry a query-attribute block (possibly empty).
func (c *Conn) QueryAttrs() bool { return c.queryAttrs }

// negotiated reports whether bc's handshake settled on capability f.
// go-mysql exposes the negotiated flags only by name.
func negotiated(bc *client.Conn, f uint32) bool {
	name, ok := mysql.CapNames[f]
	return ok && slices.Contains(strings.Split(bc.CapabilityString(), "|"), name)
}

// Packet returns the raw packet connection for relaying.
func (c *Conn) Packet() *packet.Conn { return c.Conn.Conn }

// Reader returns the reader the relay reads this connection's responses
// with (see protocol.BackendReader); go-mysql's client may be used on the
// connection between responses.
func (c *Conn) Reader() *protocol.BackendReader {
	if c.reader == nil {
		c.reader = protocol.NewBackendReader(c.Conn.Conn)
	}
	return c.reader
}

// Addr is the backend's address.
func (c *Conn) Addr() string { return c.pool.key.Addr }

// Key is the pool key this connection belongs to.
func (c *Conn) Key() Key { return c.pool.key }

// Recycle returns a connection in a known state to its pool. Only the
// first release (Recycle or Discard) of a checkout counts.
func (c *Conn) Recycle() {
	if c.release() {
		c.pool.put(c)
	}
}

// Discard closes a connection whose state is unknown or broken. Only the
// first release (Recycle or Discard) of a checkout counts.
func (c *Conn) Discard() {
	if c.release() {
		c.pool.discard(c)
	}
}

// release marks the checkout over and reports whether it was still open;
// a repeated release is a caller's bug, counted and otherwise ignored.
func (c *Conn) release() bool {
	if c.released.Swap(true) {
		c.pool.srv.stats.DoubleReleases.Add(1)
		if lg := c.pool.m.lg; lg != nil {
			lg.Error("backend connection released twice (a bug; the second release is ignored)",
				zap.String("backend_addr", c.pool.key.Addr), zap.Stack("stack"))
		}
		return false
	}
	return true
}

// Stats is the server's shared counter block.
func (c *Conn) Stats() *ServerStats { return c.pool.srv.stats }
