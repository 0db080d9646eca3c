package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// ErrTooLarge is returned by ClientConn.ReadPacket for a request larger
// than the limit it was given (max_allowed_packet).
var ErrTooLarge = errors.New("request larger than max_allowed_packet")

// errSequence is a packet out of sequence: the client is confused or
// hostile, and the connection is closed.
var errSequence = errors.New("client packet out of sequence")

// clientReadBuffer is the read buffer of a client connection after its
// handshake: it holds a typical request (a sysbench statement is 30-300
// bytes); longer payloads are read straight into the request buffer.
const clientReadBuffer = 1024

// readChunk bounds how much request buffer is grown ahead of the bytes
// that arrived: a header announcing 16 MiB costs memory only as the bytes
// come.
const readChunk = 64 << 10

// ClientConn is the client side of a session once the handshake is over.
// It replaces go-mysql's packet.Conn, whose 64 KiB read buffer and 16 KiB
// copy buffer per connection would make ten thousand idle clients cost a
// gigabyte: it reads through a small buffer straight into the caller's
// request buffer, and writes packets to a (buffered) connection.
//
// A ClientConn belongs to one goroutine.
type ClientConn struct {
	conn net.Conn
	r    *bufio.Reader
	hdr  [4]byte
	// Sequence is the sequence number of the next packet, as in
	// go-mysql's packet.Conn.
	Sequence uint8
}

// NewClientConn reads and writes packets on c, the connection the
// handshake ended on (TLS already layered on it if the client asked).
func NewClientConn(c net.Conn) *ClientConn {
	return &ClientConn{conn: c, r: bufio.NewReaderSize(c, clientReadBuffer)}
}

// ResetSequence starts a new command: the next packet read is number 0.
func (c *ClientConn) ResetSequence() { c.Sequence = 0 }

// RemoteAddr is the client's address.
func (c *ClientConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// WaitRequest waits until the header of the next request has arrived,
// without consuming anything: a read deadline that interrupts it loses no
// byte (the zero-downtime upgrade wakes idle sessions that way).
func (c *ClientConn) WaitRequest() error {
	_, err := c.r.Peek(4)
	return err
}

// Pending reports whether a byte of the next request has been read from
// the connection; it waits for none (a read deadline in the past, set by
// the caller, makes it return at once).
func (c *ClientConn) Pending() (bool, error) {
	if c.r.Buffered() > 0 {
		return true, nil
	}
	_, err := c.r.Peek(1)
	return err == nil, err
}

// ReadPacket appends the payload of the next request (a multi-packet
// request joined) to dst. A request whose payload exceeds max bytes (max
// > 0) fails with ErrTooLarge before it is read in full.
func (c *ClientConn) ReadPacket(dst []byte, max int) ([]byte, error) {
	total := 0
	for {
		if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
			return dst, err
		}
		n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
		if c.hdr[3] != c.Sequence {
			return dst, fmt.Errorf("%w: got %d, want %d", errSequence, c.hdr[3], c.Sequence)
		}
		c.Sequence++
		total += n
		if max > 0 && total > max {
			return dst, ErrTooLarge
		}
		for left := n; left > 0; {
			k := min(left, readChunk)
			l := len(dst)
			dst = slices.Grow(dst, k)[:l+k]
			if _, err := io.ReadFull(c.r, dst[l:]); err != nil {
				return dst[:l], err
			}
			left -= k
		}
		if n < mysql.MaxPayloadLen {
			return dst, nil
		}
	}
}

// WritePacket writes p, whose first 4 bytes are room for the header, as
// one packet (or several, for a payload of 16 MiB or more). Like
// go-mysql's packet.Conn it writes headers into p.
func (c *ClientConn) WritePacket(p []byte) error {
	for len(p)-4 >= mysql.MaxPayloadLen {
		p[0], p[1], p[2], p[3] = 0xff, 0xff, 0xff, c.Sequence
		if _, err := c.conn.Write(p[:4+mysql.MaxPayloadLen]); err != nil {
			return err
		}
		c.Sequence++
		p = p[mysql.MaxPayloadLen:]
	}
	n := len(p) - 4
	p[0], p[1], p[2], p[3] = byte(n), byte(n>>8), byte(n>>16), c.Sequence
	if _, err := c.conn.Write(p); err != nil {
		return err
	}
	c.Sequence++
	return nil
}
