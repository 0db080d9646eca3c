package protocol

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"
)

// Handler serves one accepted connection until it ends. It owns nc.
type Handler func(ctx context.Context, nc net.Conn)

// Listener accepts client connections, enforces max_connections, and
// runs each connection in its own goroutine.
type Listener struct {
	ln     net.Listener
	handle Handler
	lg     *zap.Logger
	max    atomic.Int64
	active atomic.Int64
	// paused refuses new connections (PROXYSQL PAUSE); open ones go on.
	paused atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		conns map[net.Conn]struct{}
		// closed is set by Close; a connection accepted after it is
		// closed at once, so Close never misses one.
		closed bool
	}
}

// Listen opens addr. Call Serve to accept.
func Listen(addr string, maxConns int, handle Handler, lg *zap.Logger) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{ln: ln, handle: handle, lg: lg, ctx: ctx, cancel: cancel}
	l.mu.conns = make(map[net.Conn]struct{})
	l.max.Store(int64(maxConns))
	return l, nil
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// SetMaxConnections changes the limit for new connections.
func (l *Listener) SetMaxConnections(n int) { l.max.Store(int64(n)) }

// Active is the number of open client connections.
func (l *Listener) Active() int64 { return l.active.Load() }

// Serve accepts until Close. Temporary accept errors are retried.
func (l *Listener) Serve() error {
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			l.lg.Warn("accept failed", zap.Error(err))
			select {
			case <-l.ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		if l.paused.Load() {
			RefuseGreeting(nc, NewErrPaused())
			continue
		}
		if l.active.Add(1) > l.max.Load() {
			l.active.Add(-1)
			refuse(nc)
			continue
		}
		if !l.track(nc) {
			l.active.Add(-1)
			_ = nc.Close()
			return nil
		}
		go func() {
			defer func() {
				l.untrack(nc)
				l.active.Add(-1)
				l.wg.Done()
			}()
			l.handle(l.ctx, nc)
		}()
	}
}

// refuse sends error 1040 in place of the handshake, as a full server does.
func refuse(nc net.Conn) { RefuseGreeting(nc, NewErrTooManyConnections()) }

// RefuseGreeting sends e to a new client in place of the server greeting
// (packet 0) and closes nc.
func RefuseGreeting(nc net.Conn, e *mysql.MyError) {
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	p := AppendErr([]byte{0, 0, 0, 0}, e)
	n := len(p) - 4
	p[0], p[1], p[2], p[3] = byte(n), byte(n>>8), byte(n>>16), 0
	_, _ = nc.Write(p)
	_ = nc.Close()
}

// track registers nc and its goroutine (wg.Add under the lock, so that
// Close's Wait sees it); it refuses once Close has begun.
func (l *Listener) track(nc net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return false
	}
	l.mu.conns[nc] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *Listener) untrack(nc net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.mu.conns, nc)
}

// SetPaused makes the listener refuse new connections (with
// NewErrPaused, in place of the greeting) or take them again. The socket
// stays bound, so that resuming cannot fail; open connections go on.
func (l *Listener) SetPaused(p bool) { l.paused.Store(p) }

// Paused reports whether new connections are refused.
func (l *Listener) Paused() bool { return l.paused.Load() }

// StopAccepting closes the listening socket; open connections go on.
func (l *Listener) StopAccepting() error { return l.ln.Close() }

// Close stops accepting, closes every open connection and waits for their
// goroutines.
func (l *Listener) Close() error {
	err := l.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	l.cancel()
	l.mu.Lock()
	l.mu.closed = true
	for nc := range l.mu.conns {
		_ = nc.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

// Wait blocks until every connection goroutine has ended or ctx is done.
func (l *Listener) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
