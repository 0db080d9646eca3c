package session

import (
	"github.com/rwproxy/rwproxy/protocol"
)

// cmdBuf receives one client request. Its first 4 bytes are a header
// placeholder so the request can be written to a backend as it is. It is
// reused between requests; a huge request's buffer is dropped afterwards.
type cmdBuf struct {
	b   []byte
	max int
}

// cmdBufSize is the first capacity of a request buffer: it grows to the
// session's largest request (up to 1 MiB is kept).
const cmdBufSize = 256

func (w *cmdBuf) read(c *protocol.ClientConn) error {
	if cap(w.b) > 1<<20 || w.b == nil {
		w.b = make([]byte, 4, cmdBufSize)
	}
	b, err := c.ReadPacket(w.b[:4], w.max)
	w.b = b
	return err
}
