package protocol_test

import (
	"bytes"
	"io"
	"net"
	"runtime/debug"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"

	"github.com/rwproxy/rwproxy/protocol"
)

// memConn is an in-memory net.Conn for driving a packet.Conn without a
// socket: Read drains r (io.EOF at its end), Write appends to w, or
// discards when w is nil. It belongs to one goroutine.
type memConn struct {
	r *bytes.Reader
	w *bytes.Buffer
}

func newMemConn(in []byte, out *bytes.Buffer) *memConn {
	return &memConn{r: bytes.NewReader(in), w: out}
}

func (c *memConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *memConn) Write(p []byte) (int, error) {
	if c.w == nil {
		return len(p), nil
	}
	return c.w.Write(p)
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

var _ io.ReadWriteCloser = (*memConn)(nil)

// relayOnce relays one response from the backend byte stream in to a
// client whose bytes are returned. Both sides are positioned as after a
// command (sequence 0 already used), as in session.send.
func relayOnce(in []byte, clientTrack bool, onOK func(*protocol.OK)) (protocol.Response, []byte, error) {
	var out bytes.Buffer
	bpc := packet.NewConn(newMemConn(in, nil))
	backend := protocol.NewBackendReader(bpc)
	client := protocol.NewClientConn(newMemConn(nil, &out))
	bpc.Sequence, client.Sequence = 1, 1
	var r protocol.Relay
	r.Done() // a zero Relay has no buffer yet: Done allocates it (as session.newSession does)
	r.ClientTrack = clientTrack
	r.OnOK = onOK
	res, err := r.Forward(client, backend)
	return res, out.Bytes(), err
}

// wire builds a backend byte stream, one packet at a time, numbering
// packets from sequence 1 (the reply to a command). Payloads must be
// shorter than 16 MiB.
type wire struct {
	b   []byte
	seq byte
	// payload counts payload bytes, which Response.Bytes must match.
	payload int
	packets int
}

func newWire() *wire { return &wire{seq: 1} }

func (w *wire) packet(pl []byte) {
	n := len(pl)
	w.b = append(w.b, byte(n), byte(n>>8), byte(n>>16), w.seq)
	w.b = append(w.b, pl...)
	w.seq++
	w.payload += n
	w.packets++
}

func lenenc(dst []byte, s []byte) []byte {
	dst = mysql.AppendLengthEncodedInteger(dst, uint64(len(s)))
	return append(dst, s...)
}

// okTracked is an OK packet payload as a server sends it with
// CLIENT_SESSION_TRACK negotiated.
func okTracked(affected, insertID uint64, status, warnings uint16, info, state []byte) []byte {
	p := []byte{mysql.OK_HEADER}
	p = mysql.AppendLengthEncodedInteger(p, affected)
	p = mysql.AppendLengthEncodedInteger(p, insertID)
	p = append(p, byte(status), byte(status>>8), byte(warnings), byte(warnings>>8))
	p = lenenc(p, info)
	if status&mysql.SERVER_SESSION_STATE_CHANGED != 0 {
		p = lenenc(p, state)
	}
	return p
}

func errPayload(code uint16, state, msg string) []byte {
	p := []byte{mysql.ERR_HEADER, byte(code), byte(code >> 8), '#'}
	p = append(p, state...)
	return append(p, msg...)
}

func eofPayload(warnings, status uint16) []byte {
	return []byte{mysql.EOF_HEADER, byte(warnings), byte(warnings >> 8), byte(status), byte(status >> 8)}
}

// columnDef is a protocol-41 column definition for a VARCHAR column.
func columnDef(name string) []byte {
	var p []byte
	for _, s := range []string{"def", "test", "t", "t", name, name} {
		p = lenenc(p, []byte(s))
	}
	p = append(p, 0x0c, 45, 0, 0, 1, 0, 0, mysql.MYSQL_TYPE_VAR_STRING, 0, 0, 0, 0, 0)
	return p
}

// resultset appends a text resultset: column count, definitions, EOF,
// rows, EOF with status.
func (w *wire) resultset(cols int, rows [][][]byte, status uint16) {
	w.packet(mysql.AppendLengthEncodedInteger(nil, uint64(cols)))
	for i := 0; i < cols; i++ {
		w.packet(columnDef("c" + string(rune('a'+i%26))))
	}
	w.packet(eofPayload(0, status&^mysql.SERVER_MORE_RESULTS_EXISTS))
	for _, row := range rows {
		var p []byte
		for _, v := range row {
			if v == nil {
				p = append(p, 0xfb)
				continue
			}
			p = lenenc(p, v)
		}
		w.packet(p)
	}
	w.packet(eofPayload(0, status))
}

// consume reads one response from in with no client, as the proxy does for
// statements it issues itself.
func consume(r *protocol.Relay, in []byte) (protocol.Response, error) {
	bpc := packet.NewConn(newMemConn(in, nil))
	backend := protocol.NewBackendReader(bpc)
	bpc.Sequence = 1
	return r.Forward(nil, backend)
}

// mustNotPanic runs fn and turns a panic into a failure of t with the
// stack, so that one crashing seed fails alone instead of aborting every
// other test of the package.
func mustNotPanic(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	fn()
}
