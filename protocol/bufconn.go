package protocol

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// BufConn is a net.Conn whose writes are buffered and flushed before the
// next read, so that a whole response (many packets) leaves in one syscall.
// go-mysql v1.16's server writes one syscall per packet; wrapping the client
// socket in a BufConn fixes that without touching the library.
//
// The buffer is taken from a pool on the first write and given back when
// it is flushed, so an idle connection (blocked in Read, everything
// flushed) holds none: ten thousand idle clients do not pin ten thousand
// write buffers.
//
// A BufConn belongs to one goroutine: Write, Read and Flush must not race.
type BufConn struct {
	net.Conn
	size int
	pool *sync.Pool
	// buf holds the pending bytes; nil while nothing is pending.
	buf *[]byte
	// err is the first write error; later writes and flushes return it.
	err error
	// extraCaps are OR-ed into the capability flags of the first packet
	// written (the server greeting); see AdvertiseCaps.
	extraCaps uint32
	greeted   bool
}

// writePools holds one pool of write buffers per buffer size.
var writePools sync.Map // int -> *sync.Pool

func writePool(size int) *sync.Pool {
	if p, ok := writePools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := writePools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, 0, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// AdvertiseCaps makes the server greeting, the first packet written on b,
// announce caps as well. go-mysql v1.16's server cannot be told to announce
// CLIENT_MULTI_STATEMENTS or CLIENT_FOUND_ROWS, and drivers such as
// go-sql-driver drop options the server does not announce; rwproxy
// supports both, so it adds them to the greeting on the way out.
func (b *BufConn) AdvertiseCaps(caps uint32) { b.extraCaps = caps }

// RemoteAddr reports the peer's address without its port, as a server
// names a client in "Access denied for user 'u'@'host'".
func (b *BufConn) RemoteAddr() net.Addr { return hostAddr{b.Conn.RemoteAddr()} }

type hostAddr struct{ net.Addr }

func (h hostAddr) String() string {
	s := h.Addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// NewBufConn wraps c with a write buffer of size bytes.
func NewBufConn(c net.Conn, size int) *BufConn {
	return &BufConn{Conn: c, size: size, pool: writePool(size)}
}

// Write buffers p; a write that does not fit is written through after the
// pending bytes.
func (b *BufConn) Write(p []byte) (int, error) {
	if !b.greeted {
		b.greeted = true
		patchGreeting(p, b.extraCaps)
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.buf != nil && len(*b.buf)+len(p) > b.size {
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
	if len(p) >= b.size {
		n, err := b.Conn.Write(p)
		if err != nil {
			b.err = err
		}
		return n, err
	}
	if b.buf == nil {
		b.buf = b.pool.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// patchGreeting ORs caps into a protocol-10 greeting packet p (with its
// 4-byte header) in place.
func patchGreeting(p []byte, caps uint32) {
	if caps == 0 || len(p) < 6 || p[4] != 10 {
		return
	}
	end := bytes.IndexByte(p[5:], 0)
	if end < 0 {
		return
	}
	lo := 5 + end + 1 + 4 + 8 + 1 // version NUL, connection id, auth data 1, filler
	hi := lo + 2 + 1 + 2          // lower caps, charset, status
	if len(p) < hi+2 {
		return
	}
	binary.LittleEndian.PutUint16(p[lo:], binary.LittleEndian.Uint16(p[lo:])|uint16(caps))
	binary.LittleEndian.PutUint16(p[hi:], binary.LittleEndian.Uint16(p[hi:])|uint16(caps>>16))
}

// Read flushes pending writes, then reads: a peer waiting for our response
// must have it before we wait for its next request.
func (b *BufConn) Read(p []byte) (int, error) {
	if b.buf != nil {
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
	return b.Conn.Read(p)
}

// Flush writes any buffered bytes and gives the buffer back to its pool.
func (b *BufConn) Flush() error {
	if b.buf == nil {
		return b.err
	}
	buf := b.buf
	b.buf = nil
	if b.err == nil && len(*buf) > 0 {
		if _, err := b.Conn.Write(*buf); err != nil {
			b.err = err
		}
	}
	*buf = (*buf)[:0]
	b.pool.Put(buf)
	return b.err
}

// Close flushes what is buffered (an error packet sent just before closing
// must reach the peer), then closes the socket.
func (b *BufConn) Close() error {
	if b.Buffered() > 0 {
		_ = b.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	}
	_ = b.Flush()
	return b.Conn.Close()
}

// Buffered reports how many bytes wait to be written.
func (b *BufConn) Buffered() int {
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}
