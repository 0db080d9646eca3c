package session

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// bufConn collects what the session writes to its client.
type bufConn struct {
	net.Conn
	out bytes.Buffer
}

func (b *bufConn) Write(p []byte) (int, error) { return b.out.Write(p) }

func longDataPacket(id uint32, param uint16, data []byte) []byte {
	p := []byte{0, 0, 0, 0, mysql.COM_STMT_SEND_LONG_DATA, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(p[5:], id)
	binary.LittleEndian.PutUint16(p[9:], param)
	return append(p, data...)
}

func longDataSession(limits config.Limits) (*Session, *bufConn) {
	cfg := config.Defaults()
	cfg.Limits = limits
	bc := &bufConn{}
	s := &Session{d: &Deps{Config: func() *config.Config { return cfg }}, stmts: make(map[uint32]*prepared)}
	s.cl = protocol.NewClientConn(bc)
	s.cmd.max = limits.MaxAllowedPacket
	s.stmts[1] = &prepared{query: "INSERT INTO t VALUES (?, ?)", params: 2}
	s.stmts[2] = &prepared{query: "INSERT INTO u VALUES (?)", params: 1}
	return s, bc
}

// replyErr decodes the one ERR packet the session wrote.
func replyErr(t *testing.T, bc *bufConn) (uint16, string) {
	t.Helper()
	p := bc.out.Bytes()
	bc.out.Reset()
	require.GreaterOrEqual(t, len(p), 13)
	require.Equal(t, byte(mysql.ERR_HEADER), p[4])
	return binary.LittleEndian.Uint16(p[5:7]), string(p[13:])
}

func executePacket(id uint32) []byte {
	p := append([]byte{0, 0, 0, 0}, executePayload(2, true, []byte{mysql.MYSQL_TYPE_BLOB, 0, mysql.MYSQL_TYPE_BLOB, 0}, nil)...)
	binary.LittleEndian.PutUint32(p[5:], id)
	return p
}

// TestLongDataPerParameter: one parameter's long data is bounded by
// max_allowed_packet; past it the chunks are dropped and the next execute
// answers MySQL's 1105, once: the statement is usable again after it.
func TestLongDataPerParameter(t *testing.T) {
	s, bc := longDataSession(config.Limits{MaxAllowedPacket: 1000, MaxLongData: 1 << 20})
	s.handleLongData(longDataPacket(1, 0, make([]byte, 600)))
	s.handleLongData(longDataPacket(1, 1, make([]byte, 600))) // another parameter: its own budget
	require.Equal(t, 2*(600+11), s.longHeld)
	s.handleLongData(longDataPacket(1, 0, make([]byte, 401)))
	require.Zero(t, s.longHeld, "dropped")
	s.handleLongData(longDataPacket(1, 0, make([]byte, 10)))
	require.Zero(t, s.longHeld, "ignored in the error state")

	require.NoError(t, s.handleExecute(&request{cmd: -1}, executePacket(1)))
	code, msg := replyErr(t, bc)
	require.Equal(t, uint16(mysql.ER_UNKNOWN_ERROR), code)
	require.Equal(t, "Parameter of prepared statement which is set through mysql_send_long_data() is longer than 'max_allowed_packet' bytes", msg)
	require.Nil(t, s.stmts[1].long.err, "the error is answered once")

	s.handleLongData(longDataPacket(1, 5, []byte("x")))
	require.NoError(t, s.handleExecute(&request{cmd: -1}, executePacket(1)))
	code, _ = replyErr(t, bc)
	require.Equal(t, uint16(mysql.ER_WRONG_ARGUMENTS), code, "a parameter the statement does not have")
}

// TestLongDataPerSession: all statements together hold at most
// limits.max_long_data; COM_STMT_RESET and COM_STMT_CLOSE give bytes back.
func TestLongDataPerSession(t *testing.T) {
	s, bc := longDataSession(config.Limits{MaxAllowedPacket: 1 << 20, MaxLongData: 1000})
	s.handleLongData(longDataPacket(1, 0, make([]byte, 500)))
	s.handleLongData(longDataPacket(2, 0, make([]byte, 500)))
	require.Equal(t, 511, s.longHeld, "the second statement went over the session's total")
	require.NotNil(t, s.stmts[2].long.err)

	require.NoError(t, s.handleStmtReset([]byte{0, 0, 0, 0, mysql.COM_STMT_RESET, 1, 0, 0, 0}))
	require.Zero(t, s.longHeld)
	bc.out.Reset()
	s.handleLongData(longDataPacket(1, 1, make([]byte, 300)))
	s.handleStmtClose([]byte{0, 0, 0, 0, mysql.COM_STMT_CLOSE, 1, 0, 0, 0})
	require.Zero(t, s.longHeld)
}

// TestLongDataFloodIsBounded is the flood of issue #17 scaled down: chunks
// of 1 MiB, never executed, against a session limit of 8 MiB. The heap
// the session holds stays under the limit (before, every chunk was kept:
// 48 MiB here, 337 MiB for 48 chunks of 8 MiB).
func TestLongDataFloodIsBounded(t *testing.T) {
	s, _ := longDataSession(config.Limits{MaxAllowedPacket: 64 << 20, MaxLongData: 8 << 20})
	chunk := longDataPacket(1, 0, make([]byte, 1<<20))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 48 {
		s.handleLongData(chunk)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	require.Less(t, grown, int64(12<<20), "heap held by one session's long data")
	runtime.KeepAlive(s)
}
