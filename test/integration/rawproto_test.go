package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// Raw MySQL packets, for clients that misbehave on purpose.

// rawPacket is one wire packet.
type rawPacket struct {
	seq     byte
	payload []byte
}

// isErr reports an ERR packet; code and state are then its error code and
// SQLSTATE.
func (p rawPacket) isErr() bool { return len(p.payload) > 0 && p.payload[0] == 0xff }

func (p rawPacket) errCode() uint16 {
	if !p.isErr() || len(p.payload) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p.payload[1:3])
}

// errState is the SQLSTATE of an ERR packet (protocol 4.1 layout).
func (p rawPacket) errState() string {
	if !p.isErr() || len(p.payload) < 9 || p.payload[3] != '#' {
		return ""
	}
	return string(p.payload[4:9])
}

func (p rawPacket) String() string {
	if p.isErr() {
		msg := ""
		if len(p.payload) > 9 {
			msg = string(p.payload[9:])
		}
		return fmt.Sprintf("ERR %d (%s) %s", p.errCode(), p.errState(), msg)
	}
	return fmt.Sprintf("packet seq %d len %d %x", p.seq, len(p.payload), p.payload[:min(len(p.payload), 16)])
}

// readRaw reads one packet from nc within timeout.
func readRaw(nc net.Conn, timeout time.Duration) (rawPacket, error) {
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = nc.SetReadDeadline(time.Time{}) }()
	var h [4]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		return rawPacket{}, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p := rawPacket{seq: h[3], payload: make([]byte, n)}
	_, err := io.ReadFull(nc, p.payload)
	return p, err
}

// writeRaw writes one packet (payload < 16 MiB).
func writeRaw(nc net.Conn, seq byte, payload []byte) error {
	n := len(payload)
	b := append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
	_, err := nc.Write(b)
	return err
}

// isClosed reports an error that means the peer closed the connection.
func isClosed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// expectErrOrClose reads until the proxy sends an ERR packet or closes the
// connection; a timeout (the proxy waiting for more) fails the test. It
// returns the ERR packet, if any.
func expectErrOrClose(t *testing.T, nc net.Conn, timeout time.Duration) *rawPacket {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := readRaw(nc, time.Until(deadline))
		if err != nil {
			require.True(t, isClosed(err), "the proxy neither answered nor closed within %v: %v", timeout, err)
			return nil
		}
		if p.isErr() {
			return &p
		}
	}
}

// rawLogin logs in with the go-mysql client and returns it with its
// underlying TCP connection, for hand-made packets afterwards. The client
// does not ask for CLIENT_DEPRECATE_EOF, so result sets have their EOF
// packets whether the server (or the proxy) offers it or not.
func rawLogin(t *testing.T, addr, user, pass string) (*client.Conn, net.Conn) {
	t.Helper()
	c, err := client.Connect(addr, user, pass, "", func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		return nil
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, c.Conn.Conn
}
