package protocol

import (
	"bufio"
	"net"
	"time"
)

// BufConn is a net.Conn whose writes are buffered and flushed before the
// next read, so that a whole response (many packets) leaves in one syscall.
// go-mysql v1.16's server writes one syscall per packet; wrapping the client
// socket in a BufConn fixes that without touching the library.
//
// A BufConn belongs to one goroutine: Write, Read and Flush must not race.
type BufConn struct {
	net.Conn
	w *bufio.Writer
}

// NewBufConn wraps c with a write buffer of size bytes.
func NewBufConn(c net.Conn, size int) *BufConn {
	return &BufConn{Conn: c, w: bufio.NewWriterSize(c, size)}
}

// Write buffers b; a full buffer is written through.
func (b *BufConn) Write(p []byte) (int, error) { return b.w.Write(p) }

// Read flushes pending writes, then reads: a peer waiting for our response
// must have it before we wait for its next request.
func (b *BufConn) Read(p []byte) (int, error) {
	if b.w.Buffered() > 0 {
		if err := b.w.Flush(); err != nil {
			return 0, err
		}
	}
	return b.Conn.Read(p)
}

// Flush writes any buffered bytes.
func (b *BufConn) Flush() error { return b.w.Flush() }

// Close flushes what is buffered (an error packet sent just before closing
// must reach the peer), then closes the socket.
func (b *BufConn) Close() error {
	if b.w.Buffered() > 0 {
		_ = b.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = b.w.Flush()
	}
	return b.Conn.Close()
}

// Buffered reports how many bytes wait to be written.
func (b *BufConn) Buffered() int { return b.w.Buffered() }
