package handover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rwproxy/rwproxy/internal/inherit"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/session"
)

// Target is the new proxy as the new side of an upgrade sees it.
type Target interface {
	// Adopt rebuilds session d on its client socket nc (and its pinned
	// backend connection's socket, when d.Backend is set); serve runs it,
	// abandon gives it up unserved. An error: the old process keeps it.
	Adopt(nc, backend net.Conn, d *session.Durable) (serve, abandon func(), err error)
}

// Builder starts the new proxy with the old one's configuration, on the
// inherited listening sockets and gossip port (internal/inherit).
type Builder func(in Inherited) (Target, error)

// Inherited is what the old process sent a Builder: its running
// configuration (YAML) and its monitor's view (monitor.View JSON; nil
// from an older binary: the monitor starts afresh).
type Inherited struct {
	Config  []byte
	Monitor []byte
}

// Phases a test (or RWPROXY_TAKEOVER_FAIL_AT) can make the new process die
// at, in protocol order.
const (
	PhaseHello     = "hello"     // after sending hello
	PhaseConfig    = "config"    // after receiving the configuration
	PhaseListeners = "listeners" // after receiving the sockets, before ready
	PhaseReady     = "ready"     // after sending ready, before any session
	PhaseSession   = "session"   // after acknowledging the first session
	// With take-back (takeback.go), before the sessions are served:
	PhaseCommit = "commit" // after receiving a commit, before answering taken
	PhaseDone   = "done"   // after receiving done, before answering taken
)

// NewOptions configure the new side.
type NewOptions struct {
	Log *zap.Logger
	// FailAt names a phase at which Crash is called (failure-injection
	// tests); "" never.
	FailAt string
	// Crash simulates the process dying: the default exits the process
	// at once (status 3), without closing anything.
	Crash func()
	// OnDone runs when the old process says done, before this process
	// answers (taken, or with an older binary by closing the socket),
	// which lets the old one exit: the place to tell systemd the new main
	// pid.
	OnDone func()
}

// Taken is a takeover in progress on the new side: the sessions keep
// arriving after Takeover returned.
type Taken struct {
	done chan struct{}
	// Prev is the old process's upgrade counters (with done).
	Prev *Snapshot
	err  error
	// Adopted: sessions served here; Refused: sessions refused (nack).
	Adopted atomic.Uint64
	Refused atomic.Uint64
	// takeback: the old process keeps each session until it commits it
	// (takeback.go): adopted sessions wait in pending until then.
	takeback bool
	pending  []adopted
}

// adopted is a session rebuilt here, not served yet.
type adopted struct{ serve, abandon func() }

// Done is closed when the old process said done (err nil) or is gone.
func (t *Taken) Done() <-chan struct{} { return t.done }

// Err is why the takeover ended; nil: the old process handed everything
// over and exited. Valid after Done.
func (t *Taken) Err() error { return t.err }

// Takeover connects to the old process's upgrade socket at path, takes
// its configuration and listening sockets, builds the new proxy with
// build and reports ready; the sessions then arrive on their own. An error
// before ready leaves the old process serving (this one should exit).
func Takeover(ctx context.Context, path string, build Builder, o NewOptions) (*Taken, error) {
	if o.Crash == nil {
		o.Crash = func() { os.Exit(3) }
	}
	lg := o.Log
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("handover: connect %s: %w", path, err)
	}
	c := &conn{uc: nc.(*net.UnixConn)}
	fail := func(err error) (*Taken, error) { _ = nc.Close(); return nil, err }
	hello := &message{Type: msgHello, Version: ProtocolVersion, PID: os.Getpid(),
		Features: []string{featureGossip, featureTakeback}}
	if err := c.send(hello); err != nil {
		return fail(err)
	}
	if o.crashAt(PhaseHello) {
		return fail(errCrashed)
	}
	m, fds, err := c.recv()
	closeFiles(fds)
	if err != nil || m.Type != msgConfig {
		return fail(fmt.Errorf("handover: configuration: %v", errOr(err, m)))
	}
	in := Inherited{Config: m.Config, Monitor: m.Monitor}
	takeback := slices.Contains(m.Features, featureTakeback)
	protocol.ReserveConnIDs(m.ConnID)
	if o.crashAt(PhaseConfig) {
		return fail(errCrashed)
	}
	if err := receiveListeners(c, lg); err != nil {
		return fail(err)
	}
	if o.crashAt(PhaseListeners) {
		inherit.CloseUnused()
		return fail(errCrashed)
	}
	tgt, err := build(in)
	inherit.CloseUnused()
	if err != nil {
		_ = c.send(&message{Type: msgAbort, Err: err.Error()})
		return fail(fmt.Errorf("handover: start: %w", err))
	}
	if err := c.send(&message{Type: msgReady}); err != nil {
		return fail(err)
	}
	lg.Info("takeover: phase ready: serving on the inherited sockets; sessions arrive", zap.Bool("takeback", takeback))
	if o.crashAt(PhaseReady) {
		return fail(errCrashed)
	}
	t := &Taken{done: make(chan struct{}), takeback: takeback}
	go t.receive(c, tgt, o, lg)
	return t, nil
}

var errCrashed = errors.New("handover: crashed on purpose (failure injection)")

func (o *NewOptions) crashAt(phase string) bool {
	if o.FailAt != phase {
		return false
	}
	o.Log.Warn("takeover: failure injection: dying", zap.String("phase", phase))
	o.Crash()
	return true
}

func receiveListeners(c *conn, lg *zap.Logger) error {
	m, fds, err := c.recv()
	if err != nil || m.Type != msgListeners {
		closeFiles(fds)
		return fmt.Errorf("handover: listening sockets: %v", errOr(err, m))
	}
	defer closeFiles(fds)
	want := len(m.Listeners)
	if m.Gossip != nil {
		want += 2
	}
	if len(fds) != want {
		return fmt.Errorf("handover: %d sockets for %d listeners", len(fds), len(m.Listeners))
	}
	if g := m.Gossip; g != nil {
		// Duplicates: the deferred closeFiles closes the received ones.
		tcp, err := dupFile(fds[len(fds)-2])
		if err != nil {
			return err
		}
		udp, err := dupFile(fds[len(fds)-1])
		if err != nil {
			_ = tcp.Close()
			return err
		}
		inherit.ProvideGossip(g.Addr, &inherit.Gossip{Name: g.Name, Peers: g.Peers, TCP: tcp, UDP: udp})
		lg.Info("takeover: gossip port inherited", zap.String("addr", g.Addr), zap.String("node", g.Name),
			zap.Int("peers", len(g.Peers)))
	}
	for i, l := range m.Listeners {
		ln, err := net.FileListener(fds[i])
		if err != nil {
			inherit.CloseUnused()
			return fmt.Errorf("handover: %s listener: %w", l.Role, err)
		}
		inherit.Provide(l.Addr, ln)
		lg.Info("takeover: listening socket inherited", zap.String("role", l.Role), zap.String("addr", ln.Addr().String()))
	}
	return nil
}

// dupFile duplicates f's descriptor (close-on-exec).
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("handover: dup: %w", derr)
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// receive adopts sessions until done or the old process is gone.
func (t *Taken) receive(c *conn, tgt Target, o NewOptions, lg *zap.Logger) {
	defer close(t.done)
	defer func() { _ = c.uc.Close() }()
	// Sessions never committed stay the old process's: only this
	// process's copies of their sockets are closed.
	defer t.abandon()
	acked := 0
	for {
		m, fds, err := c.recv()
		if err != nil {
			closeFiles(fds)
			t.err = fmt.Errorf("handover: old process gone before done: %w", err)
			lg.Warn("takeover: the old process is gone before done; the sessions it did not commit stay its own",
				zap.Error(err), zap.Int("sessions", len(t.pending)))
			return
		}
		switch m.Type {
		case msgDone:
			t.Prev = m.Stats
			t.takeDone(c, o, lg)
			return
		case msgCommit:
			if !t.commit(c, o, lg) {
				return
			}
		case msgAbort:
			closeFiles(fds)
			t.err = errors.New("handover: the old process gave the upgrade up: " + m.Err)
			return
		case msgSession:
			if !t.adopt(c, tgt, m, fds, lg) {
				t.err = errors.New("handover: answer not delivered")
				return
			}
			if acked++; acked == 1 && o.crashAt(PhaseSession) {
				t.err = errCrashed
				return
			}
		default:
			closeFiles(fds)
		}
	}
}

// commit answers a commit: taken, then the pending sessions are served
// here; false: the takeover ends (the old process keeps them).
func (t *Taken) commit(c *conn, o NewOptions, lg *zap.Logger) bool {
	if o.crashAt(PhaseCommit) {
		t.err = errCrashed
		return false
	}
	if err := c.send(&message{Type: msgTaken}); err != nil {
		t.err = fmt.Errorf("handover: taken not delivered: %w", err)
		return false
	}
	lg.Info("takeover: phase commit: serving the sessions received", zap.Int("sessions", len(t.pending)))
	t.servePending()
	return true
}

// takeDone handles done: with take-back, taken and the last sessions served;
// then the wait for the old process to close the socket (its upgrade
// socket is closed by then, so that this process can open its own).
func (t *Taken) takeDone(c *conn, o NewOptions, lg *zap.Logger) {
	if o.crashAt(PhaseDone) {
		t.err = errCrashed
		return
	}
	if o.OnDone != nil {
		o.OnDone()
	}
	if t.takeback {
		if err := c.send(&message{Type: msgTaken}); err != nil {
			t.err = fmt.Errorf("handover: taken not delivered: %w", err)
			return
		}
		t.servePending()
		_ = c.uc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, fds, _ := c.recv()
		closeFiles(fds)
	}
	lg.Info("takeover: phase done: the old process handed everything over",
		zap.Uint64("sessions", t.Adopted.Load()))
}

func (t *Taken) servePending() {
	for _, a := range t.pending {
		t.Adopted.Add(1)
		a.serve()
	}
	t.pending = nil
}

func (t *Taken) abandon() {
	for _, a := range t.pending {
		a.abandon()
	}
	t.pending = nil
}

// adopt takes one session; false: the old process cannot be answered.
func (t *Taken) adopt(c *conn, tgt Target, m *message, fds []*os.File, lg *zap.Logger) bool {
	nack := func(err error) bool {
		t.Refused.Add(1)
		lg.Warn("takeover: session refused: it stays with the old process", zap.Uint32("conn", m.ID), zap.Error(err))
		return c.send(&message{Type: msgNack, ID: m.ID, Err: err.Error()}) == nil
	}
	conns, err := fileConns(fds)
	if err != nil {
		return nack(err)
	}
	d, err := session.UnmarshalDurable(m.Session)
	if err == nil && len(conns) != 1+btoi(d.Backend != nil) {
		err = fmt.Errorf("%d sockets with the session", len(conns))
	}
	var serve, abandon func()
	if err == nil {
		var backend net.Conn
		if len(conns) > 1 {
			backend = conns[1]
		}
		serve, abandon, err = tgt.Adopt(conns[0], backend, d)
	}
	if err != nil {
		for _, c := range conns {
			_ = c.Close()
		}
		return nack(err)
	}
	if err := c.send(&message{Type: msgAck, ID: m.ID}); err != nil {
		abandon()
		return false
	}
	if t.takeback {
		t.pending = append(t.pending, adopted{serve: serve, abandon: abandon})
		return true
	}
	t.Adopted.Add(1)
	serve()
	return true
}

// fileConns turns received descriptors into connections (and closes the
// files).
func fileConns(fds []*os.File) ([]net.Conn, error) {
	defer closeFiles(fds)
	var out []net.Conn
	for _, f := range fds {
		c, err := net.FileConn(f)
		if err != nil {
			for _, o := range out {
				_ = o.Close()
			}
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no socket with the session")
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
