package protocol

import (
	"bufio"
	"fmt"
	"io"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
)

// PacketSource is what the relay reads a backend's response from: a
// BackendReader, or go-mysql's *packet.Conn itself. ReadPacketReuseMem
// appends the payload of the next packet (a multi-packet payload joined)
// to dst.
type PacketSource interface {
	ReadPacketReuseMem(dst []byte) ([]byte, error)
}

// backendReadBuffer holds several small result packets, so that a point
// select's response is read with one syscall.
const backendReadBuffer = 16 << 10

// BackendReader reads a backend connection's packets straight into the
// caller's buffer. go-mysql's packet.Conn copies every packet twice (into
// a pooled bytes.Buffer through a copy buffer, then into the caller's
// slice) and takes and returns a sync.Pool buffer per packet: about 100
// ns a packet, most of the relay's own cost. BackendReader reads from the
// same socket and keeps pc.Sequence, so go-mysql's client can go on using
// pc between responses: the protocol is request-response, so neither
// reader holds a byte of the other's when a response is complete.
//
// A BackendReader belongs to the goroutine using its connection.
type BackendReader struct {
	pc  *packet.Conn
	r   *bufio.Reader
	hdr [4]byte
}

// NewBackendReader reads pc's packets; pc must have finished its handshake
// (with TLS, pc.Conn is then the TLS connection) and use no compression.
func NewBackendReader(pc *packet.Conn) *BackendReader {
	return &BackendReader{pc: pc}
}

// ReadPacketReuseMem appends the next packet's payload to dst, like
// packet.Conn.ReadPacketReuseMem.
func (b *BackendReader) ReadPacketReuseMem(dst []byte) ([]byte, error) {
	if b.pc.Compression != mysql.MYSQL_COMPRESS_NONE {
		return b.pc.ReadPacketReuseMem(dst)
	}
	if b.r == nil {
		b.r = bufio.NewReaderSize(b.pc.Conn, backendReadBuffer)
	}
	for {
		if _, err := io.ReadFull(b.r, b.hdr[:]); err != nil {
			return dst, err
		}
		n := int(b.hdr[0]) | int(b.hdr[1])<<8 | int(b.hdr[2])<<16
		if b.hdr[3] != b.pc.Sequence {
			return dst, fmt.Errorf("backend packet out of sequence: got %d, want %d", b.hdr[3], b.pc.Sequence)
		}
		b.pc.Sequence++
		l := len(dst)
		dst = slices.Grow(dst, n)[:l+n]
		if _, err := io.ReadFull(b.r, dst[l:]); err != nil {
			return dst[:l], err
		}
		if n < mysql.MaxPayloadLen {
			return dst, nil
		}
	}
}
