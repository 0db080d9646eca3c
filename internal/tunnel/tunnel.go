// Package tunnel is a TCP relay in front of one server that can delay what
// the server sends: the balancing experiment (sysbench/balance) and its
// integration test slow one replica down with it.
package tunnel

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Tunnel is a TCP relay in front of one server that can delay what the
// server sends: each chunk read from it waits the delay before it is
// passed on, so every response arrives that much later, whatever else the
// machine is doing.
type Tunnel struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // ns
	done   chan struct{}
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		conns []net.Conn
	}
}

// Start listens on a free loopback port and relays to target.
func Start(target string) (*Tunnel, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tu := &Tunnel{ln: ln, target: target, done: make(chan struct{})}
	tu.wg.Go(tu.accept)
	return tu, nil
}

// Port is the loopback port the tunnel listens on.
func (tu *Tunnel) Port() int { return tu.ln.Addr().(*net.TCPAddr).Port }

func (tu *Tunnel) accept() {
	for {
		c, err := tu.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", tu.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		tu.mu.Lock()
		tu.mu.conns = append(tu.mu.conns, c, s)
		tu.mu.Unlock()
		tu.wg.Go(func() { tu.copy(s, c, false) })
		tu.wg.Go(func() { tu.copy(c, s, true) })
	}
}

// copy relays src to dst until either side closes; delayed marks the
// server-to-client direction.
func (tu *Tunnel) copy(dst, src net.Conn, delayed bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(tu.delay.Load()); delayed && d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-tu.done:
					t.Stop()
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or a closed connection: either side is done
			return
		}
	}
}

// SetDelay makes every later chunk from the server wait d (0: none).
func (tu *Tunnel) SetDelay(d time.Duration) { tu.delay.Store(int64(d)) }

// Close stops the tunnel and its connections and waits for them.
func (tu *Tunnel) Close() {
	if tu == nil {
		return
	}
	close(tu.done)
	_ = tu.ln.Close()
	tu.mu.Lock()
	for _, c := range tu.mu.conns {
		_ = c.Close()
	}
	tu.mu.Unlock()
	tu.wg.Wait()
}
