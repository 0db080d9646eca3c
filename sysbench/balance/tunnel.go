package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tunnel is a TCP relay in front of one replica that can delay what the
// replica sends: each chunk read from it waits delay before it is passed
// on, so every response arrives that much later, whatever else the
// machine is doing. Both replicas sit behind one, so that they pay the
// same extra hop.
type tunnel struct {
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

// startTunnel listens on a free loopback port and relays to target.
func startTunnel(target string) (*tunnel, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tu := &tunnel{ln: ln, target: target, done: make(chan struct{})}
	tu.wg.Go(tu.accept)
	return tu, nil
}

func (tu *tunnel) port() int { return tu.ln.Addr().(*net.TCPAddr).Port }

func (tu *tunnel) accept() {
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
// replica-to-proxy direction.
func (tu *tunnel) copy(dst, src net.Conn, delayed bool) {
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

// close stops the tunnel and its connections and waits for them.
func (tu *tunnel) close() {
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
