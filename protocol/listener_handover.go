package protocol

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
)

// The zero-downtime upgrade (internal/handover) needs three more things of
// a Listener: its socket, to hand to the new process; a way to accept
// again on a duplicate of it when the new process fails after this one
// stopped accepting; and connections handed over by the old process,
// tracked like accepted ones.

// File returns a duplicate of the listening socket.
func (l *Listener) File() (*os.File, error) { return l.ln.(*resumable).File() }

// Resume accepts on ln (a duplicate of the socket StopAccepting closed)
// until Close. It is called after Serve returned.
func (l *Listener) Resume(ln net.Listener) error {
	l.mu.Lock()
	closed := l.mu.closed
	if !closed {
		l.ln.(*resumable).swap(ln) // under l.mu: Close closes the socket again once closed is set
	}
	l.mu.Unlock()
	if closed {
		_ = ln.Close()
		return net.ErrClosed
	}
	return l.Serve()
}

// resumable is the Listener's socket, which Resume may replace while
// other goroutines read its address or close it.
type resumable struct {
	mu sync.Mutex
	ln net.Listener
}

func (r *resumable) get() net.Listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ln
}

func (r *resumable) swap(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
}

func (r *resumable) Accept() (net.Conn, error) { return r.get().Accept() }
func (r *resumable) Close() error              { return r.get().Close() }
func (r *resumable) Addr() net.Addr            { return r.get().Addr() }

func (r *resumable) File() (*os.File, error) {
	f, ok := r.get().(interface{ File() (*os.File, error) })
	if !ok {
		return nil, errors.New("protocol: listener has no file")
	}
	return f.File()
}

// Adopt serves nc, a connection another process handed over, with serve
// on its own goroutine, counted and closed like an accepted one. It
// reports false when the listener is closed (nc is not served then).
func (l *Listener) Adopt(nc net.Conn, serve func(ctx context.Context, nc net.Conn)) bool {
	l.active.Add(1)
	if !l.track(nc) {
		l.active.Add(-1)
		return false
	}
	go func() {
		defer func() {
			l.untrack(nc)
			l.active.Add(-1)
			l.wg.Done()
		}()
		serve(l.ctx, nc)
	}()
	return true
}

// Context is the context the listener's connections are served with.
func (l *Listener) Context() context.Context { return l.ctx }
