package session

import (
	"errors"

	"github.com/go-mysql-org/go-mysql/packet"
)

var errTooLarge = errors.New("session: request larger than max_allowed_packet")

// cmdBuf receives one client request. Its first 4 bytes are a header
// placeholder so the request can be written to a backend as it is. It is
// reused between requests; a huge request's buffer is dropped afterwards.
type cmdBuf struct {
	b        []byte
	max      int
	tooLarge bool
}

// Write implements io.Writer for packet.Conn.ReadPacketTo, refusing to
// grow past max.
func (w *cmdBuf) Write(p []byte) (int, error) {
	if w.max > 0 && len(w.b)-4+len(p) > w.max {
		w.tooLarge = true
		return 0, errTooLarge
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *cmdBuf) read(pc *packet.Conn) error {
	if cap(w.b) > 1<<20 || w.b == nil {
		w.b = make([]byte, 4, 4096)
	}
	w.b = w.b[:4]
	w.tooLarge = false
	if err := pc.ReadPacketTo(w); err != nil {
		if w.tooLarge {
			return errTooLarge
		}
		return err
	}
	return nil
}
