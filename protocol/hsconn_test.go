package protocol_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// streamConn is a net.Conn reading a fixed byte stream and discarding
// writes (what the fuzz target and the reader tests feed HandshakeConn).
type streamConn struct {
	net.Conn // nil: only Read, Write and Close are called
	r        *bytes.Reader
	written  bytes.Buffer
}

func (s *streamConn) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error) { return s.written.Write(p) }
func (s *streamConn) Close() error                { return nil }

// hugeHeaderLogin sends the greeting's answer as a bare 4-byte header
// announcing announce bytes, and returns what the client received after the
// greeting and the bytes the process allocated meanwhile.
func hugeHeaderLogin(t *testing.T, announce int) (reply []byte, allocated uint64) {
	t.Helper()
	srv, err := testServer()
	require.NoError(t, err)
	sEnd, cEnd := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	require.NoError(t, sEnd.SetDeadline(deadline))
	require.NoError(t, cEnd.SetDeadline(deadline))
	done := make(chan error, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		c, err := protocol.Handshake(srv, sEnd, testAuth(), quietHandler{})
		if c != nil {
			c.Close()
		}
		_ = sEnd.Close()
		done <- err
	}()
	pc := packet.NewConn(cEnd)
	_, err = pc.ReadPacket() // greeting
	require.NoError(t, err)
	_, err = cEnd.Write([]byte{byte(announce), byte(announce >> 8), byte(announce >> 16), 1})
	require.NoError(t, err)
	reply, _ = io.ReadAll(cEnd)
	require.Error(t, <-done)
	runtime.ReadMemStats(&after)
	_ = cEnd.Close()
	return reply, after.TotalAlloc - before.TotalAlloc
}

// TestHandshakeHeaderIsBounded: a client that answers the greeting with a
// header announcing 16 MiB gets error 1153 and is closed, and the proxy
// does not allocate the announced size (go-mysql's reader alone allocated
// 16 MiB for these 4 bytes).
func TestHandshakeHeaderIsBounded(t *testing.T) {
	reply, allocated := hugeHeaderLogin(t, mysql.MaxPayloadLen)
	require.GreaterOrEqual(t, len(reply), 7, "an error packet")
	require.Equal(t, byte(2), reply[3], "the reply follows the client's packet 1")
	require.Equal(t, byte(mysql.ERR_HEADER), reply[4])
	require.Equal(t, uint16(mysql.ER_NET_PACKET_TOO_LARGE), uint16(reply[5])|uint16(reply[6])<<8)
	require.Less(t, allocated, uint64(4<<20), "bytes allocated for one 4-byte header")
}

// TestHandshakeReaderPassesPackets: packets within the limit pass whole and
// unchanged; the first one over it is refused without being read.
func TestHandshakeReaderPassesPackets(t *testing.T) {
	small := bytes.Repeat([]byte{'a'}, 100)
	edge := bytes.Repeat([]byte{'b'}, protocol.MaxHandshakePacket)
	var stream []byte
	stream = appendPacket(stream, 1, small)
	stream = appendPacket(stream, 2, edge)
	stream = append(stream, 0x01, 0x40, 0x00, 3) // MaxHandshakePacket+1
	sc := &streamConn{r: bytes.NewReader(stream)}
	pc := packet.NewTLSConn(protocol.NewHandshakeConn(sc, nil))
	pc.Sequence = 1
	got, err := pc.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, small, got)
	got, err = pc.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, edge, got)
	_, err = pc.ReadPacket()
	require.ErrorContains(t, err, protocol.ErrHandshakeTooLarge.Error()) // go-mysql wraps it with %v
	require.Equal(t, 0, sc.r.Len(), "nothing read past the refused header")
	w := sc.written.Bytes()
	require.GreaterOrEqual(t, len(w), 7)
	require.Equal(t, uint16(mysql.ER_NET_PACKET_TOO_LARGE), uint16(w[5])|uint16(w[6])<<8)
}

func appendPacket(b []byte, seq byte, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n), byte(n>>8), byte(n>>16), seq)
	return append(b, payload...)
}

// FuzzHandshakeReader feeds an arbitrary client byte stream through
// HandshakeConn to go-mysql's packet reader. Invariants: no panic; every
// packet handed on is at most MaxHandshakePacket bytes and equal to the
// stream's packet at that place; reading stops at the first header over the
// limit (ErrHandshakeTooLarge) or at the end of the stream; and reading the
// whole stream allocates a bounded amount whatever the headers announce.
func FuzzHandshakeReader(f *testing.F) {
	f.Add(appendPacket(nil, 1, handshakeResponse(handshakeCaps, "app", make([]byte, 20), "db",
		mysql.AUTH_NATIVE_PASSWORD, attrsBlock("_os", "linux"))))
	f.Add([]byte{0xff, 0xff, 0xff, 1})
	f.Add([]byte{0x00, 0x40, 0x00, 1})
	f.Add(appendPacket(appendPacket(nil, 1, []byte("x")), 2, bytes.Repeat([]byte{1}, 300)))
	f.Add(appendPacket(nil, 1, make([]byte, 32))) // SSLRequest, no TLS offered
	f.Add([]byte{5, 0, 0})
	f.Fuzz(func(t *testing.T, stream []byte) {
		mustNotPanic(t, func() {
			sc := &streamConn{r: bytes.NewReader(stream)}
			pc := packet.NewTLSConn(protocol.NewHandshakeConn(sc, nil))
			rest := stream
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for seq := uint8(1); ; seq++ {
				pc.Sequence = rest3(rest, seq)
				p, err := pc.ReadPacket()
				if err != nil {
					if strings.Contains(err.Error(), protocol.ErrHandshakeTooLarge.Error()) {
						n := int(rest[0]) | int(rest[1])<<8 | int(rest[2])<<16
						require.Greater(t, n, protocol.MaxHandshakePacket)
					}
					break
				}
				require.LessOrEqual(t, len(p), protocol.MaxHandshakePacket)
				require.GreaterOrEqual(t, len(rest), 4+len(p))
				require.True(t, bytes.Equal(rest[4:4+len(p)], p), "packet changed on the way")
				rest = rest[4+len(p):]
			}
			runtime.ReadMemStats(&after)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20)+4*uint64(len(stream)))
		})
	})
}

// rest3 is the sequence number of the next packet in rest (so that go-mysql's
// sequence check passes and the framing is what is tested), else seq.
func rest3(rest []byte, seq uint8) uint8 {
	if len(rest) >= 4 {
		return rest[3]
	}
	return seq
}
