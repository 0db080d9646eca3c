package pool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// The zero-downtime upgrade moves a session's pinned backend connection
// (an open transaction, locks, temporary tables) to the new process: the
// socket travels as a descriptor, and Adopt rebuilds go-mysql's client
// over it. The client library only builds its state (capabilities, server
// version, thread id) from a login, so Adopt plays a login to it from
// memory, on a wrapper that swallows the login response, and then lets it
// talk to the real socket: the server never sees a second login.

// Handed describes a backend connection handed to another process.
type Handed struct {
	Key           Key
	ThreadID      uint32
	ServerVersion string
	// Status is the server status of the last response (in transaction,
	// autocommit).
	Status          uint16
	DB              string
	Vars            map[string]string
	MultiStatements bool
	LastInsertID    uint64
	Stmts           []HandedStmt
}

// HandedStmt is a statement prepared on the handed connection.
type HandedStmt struct {
	Query  string
	ID     uint32
	Params int
	Types  []byte
}

// ErrNotHandable is a backend connection that cannot move (TLS: its keys
// are in this process's memory).
var ErrNotHandable = errors.New("pool: backend connection cannot be handed over")

// Hand describes c and returns its socket, for a handover between two
// statements. After the other process took it, Discard ends the checkout
// here (it closes this process's descriptor only).
func (c *Conn) Hand() (Handed, net.Conn, error) {
	nc, ok := c.Conn.Conn.Conn.(*net.TCPConn)
	if !ok {
		return Handed{}, nil, ErrNotHandable
	}
	var st uint16
	if c.IsAutoCommit() {
		st |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if c.IsInTransaction() {
		st |= mysql.SERVER_STATUS_IN_TRANS
	}
	h := Handed{Key: c.pool.key, ThreadID: c.GetConnectionID(), ServerVersion: c.GetServerVersion(), Status: st,
		DB: c.DB, Vars: copyMap(c.Vars), MultiStatements: c.MultiStatements, LastInsertID: c.LastInsertID}
	for e := c.Stmts.order.Back(); e != nil; e = e.Prev() {
		s := e.Value.(*Stmt)
		h.Stmts = append(h.Stmts, HandedStmt{Query: s.query, ID: s.ID, Params: s.Params, Types: slices.Clone(s.Types)})
	}
	return h, nc, nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Adopt makes a checked-out connection of h's pool from nc, a backend
// socket another process handed over; password is the pool's. It takes a
// slot of the server's max_connections like a dial.
func (m *Manager) Adopt(ctx context.Context, h Handed, password string, nc net.Conn) (*Conn, error) {
	p, err := m.pool(h.Key, password)
	if err != nil {
		return nil, err
	}
	if !p.srv.tryAcquire() {
		return nil, fmt.Errorf("pool %s: adopt: server at max_connections", h.Key.Addr)
	}
	rc := newReplayConn(nc, h)
	dialer := func(context.Context, string, string) (net.Conn, error) { return rc, nil }
	bc, err := client.ConnectWithDialer(ctx, "tcp", h.Key.Addr, h.Key.User, password, "", dialer, func(c *client.Conn) error {
		return clientCaps(c, h.Key)
	})
	if err != nil {
		p.srv.release()
		return nil, fmt.Errorf("pool %s: adopt: %w", h.Key.Addr, err)
	}
	bc.Conn.Conn = nc // the login is over: straight to the socket
	now := time.Now()
	c := &Conn{Conn: bc, pool: p, created: now, lastUsed: now, DB: h.DB, Vars: copyMap(h.Vars),
		MultiStatements: h.MultiStatements, LastInsertID: h.LastInsertID, Stmts: NewStmtCache(m.opts.StmtCacheSize)}
	for _, s := range h.Stmts {
		for _, old := range c.Stmts.Put(s.Query, &Stmt{ID: s.ID, Params: s.Params, Types: slices.Clone(s.Types)}) {
			closeStmt(c, old)
		}
	}
	p.srv.stats.ConnOK.Add(1)
	p.srv.stats.addUsed()
	return c, nil
}

func closeStmt(c *Conn, id uint32) {
	p := c.Packet()
	p.ResetSequence()
	_ = p.WritePacket([]byte{0, 0, 0, 0, mysql.COM_STMT_CLOSE, byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)})
}

// clientCaps asks for the capabilities dial asks for, so that the client
// library reads responses as it did on the original connection.
func clientCaps(c *client.Conn, k Key) error {
	c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
	c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
	for _, f := range []uint32{mysql.CLIENT_MULTI_STATEMENTS, mysql.CLIENT_MULTI_RESULTS,
		mysql.CLIENT_PS_MULTI_RESULTS, mysql.CLIENT_SESSION_TRACK, mysql.CLIENT_LOCAL_FILES} {
		if err := c.SetCapability(f); err != nil {
			return err
		}
	}
	if k.FoundRows {
		return c.SetCapability(mysql.CLIENT_FOUND_ROWS)
	}
	return nil
}

// replayCaps are the server capabilities the replayed login announces:
// everything the client may ask for but TLS and compression (the real
// server granted what dial asked, which clientCaps asks again).
const replayCaps = ^uint32(mysql.CLIENT_SSL | mysql.CLIENT_COMPRESS | mysql.CLIENT_ZSTD_COMPRESSION_ALGORITHM)

// loginReplay is a server greeting for h (its version and thread id) and
// the OK that ends the login.
func loginReplay(h Handed) (greeting, ok []byte) {
	g := []byte{10}
	g = append(g, h.ServerVersion...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint32(g, h.ThreadID)
	g = append(g, "12345678"...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint16(g, uint16(replayCaps&0xffff))
	g = append(g, mysql.DEFAULT_COLLATION_ID)
	g = binary.LittleEndian.AppendUint16(g, h.Status)
	g = binary.LittleEndian.AppendUint16(g, uint16(replayCaps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, "123456789012"...)
	g = append(g, 0)
	g = append(g, mysql.AUTH_NATIVE_PASSWORD...)
	g = append(g, 0)
	okp := []byte{mysql.OK_HEADER, 0, 0}
	okp = binary.LittleEndian.AppendUint16(okp, h.Status)
	okp = append(okp, 0, 0)
	return appendPacket(nil, 0, g), appendPacket(nil, 2, okp)
}

func appendPacket(b []byte, seq byte, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n), byte(n>>8), byte(n>>16), seq)
	return append(b, payload...)
}

// replayConn serves the replayed login from memory: the greeting, then
// (once the client wrote its login response, which it swallows) the OK;
// then it is the socket. The phases matter: a buffered reader would
// otherwise take the OK with the greeting, and the login response would
// reach the server.
type replayConn struct {
	net.Conn
	greeting, ok *bytes.Reader
	wrote        bool
}

func newReplayConn(nc net.Conn, h Handed) *replayConn {
	g, ok := loginReplay(h)
	return &replayConn{Conn: nc, greeting: bytes.NewReader(g), ok: bytes.NewReader(ok)}
}

func (c *replayConn) Read(p []byte) (int, error) {
	switch {
	case c.greeting.Len() > 0:
		return c.greeting.Read(p)
	case c.wrote && c.ok.Len() > 0:
		return c.ok.Read(p)
	case !c.wrote:
		return 0, errors.New("pool: adopt: client read before its login response")
	}
	return c.Conn.Read(p)
}

func (c *replayConn) Write(p []byte) (int, error) {
	if !c.wrote {
		c.wrote = true
		return len(p), nil // the login response: the server logged in long ago
	}
	return c.Conn.Write(p)
}
