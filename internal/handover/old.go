package handover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/session"
)

// Source is the running proxy as the old side of an upgrade sees it.
type Source interface {
	// Config is the running configuration as YAML.
	Config() ([]byte, error)
	// Listeners are duplicates of the listening sockets (the caller
	// closes them) and what they are.
	Listeners() ([]Listening, []*os.File, error)
	// StopAccepting stops accepting clients; resume accepts again (on a
	// duplicate of the socket) if the upgrade fails.
	StopAccepting() (resume func() error, err error)
	// Sessions knows the live sessions.
	Sessions() *session.Registry
}

// StateSource is a Source that also hands over its monitor's view and
// its cluster node (optional: without it the new monitor starts afresh
// and the new node joins after the old one left).
type StateSource interface {
	// MonitorView is the monitor's observed state (monitor.View JSON).
	MonitorView() ([]byte, error)
	// DetachGossip stops the cluster node without leaving and returns its
	// gossip port; nil, nil when no node runs.
	DetachGossip() (*Gossip, error)
	// ResumeGossip starts a node on g's port again (a failed upgrade).
	ResumeGossip(g *Gossip) error
}

// Gossip is a detached cluster node's gossip port (Info) and its sockets
// (the holder closes them).
type Gossip struct {
	Info     GossipInfo
	TCP, UDP *os.File
}

func (g *Gossip) close() { _, _ = g.TCP.Close(), g.UDP.Close() }

// Stats count upgrades and their sessions (admin and /metrics).
type Stats struct {
	// HandedOver: sessions the new process took; Refused: sessions it
	// refused (they stayed); TakenBack: sessions it had received but
	// not served when the upgrade failed (this process served on);
	// Failed: sessions lost in a failed handover (the new process served
	// them, then died: only with an older binary, or after a commit round,
	// takeback.go); Drained: sessions that could not leave (TLS, open
	// transaction) and ended on the old process, or were closed at the
	// drain deadline.
	HandedOver, Refused, TakenBack, Failed, Drained atomic.Uint64
	// Upgrades: completed; Rollbacks: failed ones the old process
	// survived.
	Upgrades, Rollbacks atomic.Uint64
	// LastDuration is the last upgrade's duration (ns, from the new
	// process's hello to done or to the rollback); LastPause the longest
	// a session of it waited, received by the new process, to be served
	// there or given back (ns: its client's pause).
	LastDuration, LastPause atomic.Int64
	// TxnsWithoutReplay counts sessions adopted inside a transaction
	// under transaction_replay: the transaction goes on, without a replay
	// record (a lost server ends it with an error).
	TxnsWithoutReplay atomic.Uint64
}

// Old is the old side of upgrades.
type Old struct {
	Src   Source
	Log   *zap.Logger
	Stats *Stats
	// ReadyTimeout bounds the new process's start (hello to ready);
	// AckTimeout one session's handover (and the new process's taken);
	// DrainTimeout the wait for the sessions that cannot leave before
	// they are closed; CommitWait how long sessions the new process
	// received wait for the others before they are committed to it, a
	// fifth of it if no session arrives meanwhile (takeback.go).
	ReadyTimeout, AckTimeout, DrainTimeout, CommitWait time.Duration
}

// Defaults for Old's timeouts.
const (
	DefaultReadyTimeout = 60 * time.Second
	DefaultAckTimeout   = 10 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultCommitWait   = 250 * time.Millisecond
)

// connIDMargin is how many logins this process may still take between
// sending its configuration and the new process's ready.
const connIDMargin = 1 << 20

// ErrRolledBack is a failed upgrade the old process survived: it serves
// every session it still has and accepts again.
var ErrRolledBack = errors.New("handover: upgrade failed; this process keeps serving")

// Serve runs one takeover by the new process at the other end of uc. nil:
// the new process owns the sockets and every session, this process may
// exit. An error: this process keeps serving.
//
// beforeDone, if set, runs just before done is sent, or with take-back
// once the new process took the last sessions (the upgrade socket is
// closed there, so that the new process can open its own at the same path).
func (o *Old) Serve(ctx context.Context, uc *net.UnixConn, beforeDone ...func() error) error {
	return o.serve(ctx, &conn{uc: uc}, beforeDone)
}

func (o *Old) serve(ctx context.Context, c *conn, beforeDone []func() error) (err error) {
	uc := c.uc
	start := time.Now()
	var g *Gossip
	defer func() { o.endGossip(g, err) }()
	defer func() { o.Stats.LastDuration.Store(int64(time.Since(start))) }()
	defer func() { _ = uc.Close() }()
	_ = uc.SetDeadline(time.Now().Add(o.readyTimeout()))
	m, fds, rerr := c.recv()
	closeFiles(fds)
	if rerr != nil {
		return fmt.Errorf("handover: hello: %w", rerr)
	}
	if m.Type != msgHello || m.Version != ProtocolVersion {
		_ = c.send(&message{Type: msgAbort, Err: fmt.Sprintf("protocol %d expected", ProtocolVersion)})
		return fmt.Errorf("handover: new process speaks %q version %d", m.Type, m.Version)
	}
	lg := o.Log.With(zap.Int("new_pid", m.PID))
	lg.Info("upgrade: phase hello: new process connected")
	takeback := slices.Contains(m.Features, featureTakeback)
	if g, err = o.sendState(c, lg, slices.Contains(m.Features, featureGossip), takeback); err != nil {
		o.Stats.Rollbacks.Add(1)
		return fmt.Errorf("%w: %v", ErrRolledBack, err)
	}
	lg.Info("upgrade: phase listeners: configuration and listening sockets sent")
	if m, _, err = c.recv(); err != nil || m.Type != msgReady {
		o.Stats.Rollbacks.Add(1)
		return fmt.Errorf("%w: new process did not get ready: %v", ErrRolledBack, errOr(err, m))
	}
	_ = uc.SetDeadline(time.Time{})
	resume, err := o.Src.StopAccepting()
	if err != nil {
		_ = c.send(&message{Type: msgAbort, Err: err.Error()})
		o.Stats.Rollbacks.Add(1)
		return fmt.Errorf("%w: %v", ErrRolledBack, err)
	}
	lg.Info("upgrade: phase ready: new process serves; this one stopped accepting and hands its sessions over",
		zap.Bool("takeback", takeback))
	o.Stats.LastPause.Store(0)
	h := &hand{c: c, acks: make(chan *message, 1), dead: make(chan struct{}), stats: o.Stats, timeout: o.ackTimeout(),
		takeback: takeback}
	go h.readLoop()
	reg := o.Src.Sessions()
	reg.StartHandoff(h)
	err = o.waitEmpty(ctx, reg, h, lg)
	if err == nil {
		err = o.finish(h, reg, start, beforeDone, lg)
	}
	if err != nil {
		// Every session the new process received but did not serve is
		// given back: it never stopped being this process's. The socket
		// is closed first (a live new process abandons what it received)
		// and h.mu taken so that no session is between its ack and its
		// park (a Hand in progress ends on the closed socket).
		reg.StopHandoff()
		gone := false // the new process ended the socket: it died
		select {
		case <-h.dead:
			gone = true
		default:
		}
		_ = uc.Close()
		h.mu.Lock()
		back := h.release(false)
		h.mu.Unlock()
		if n := h.committedCount(); gone && n > 0 {
			// Committed in an earlier round: served by the process that
			// died, they ended with it.
			o.Stats.Failed.Add(uint64(n))
		}
		rerr := resume()
		o.Stats.Rollbacks.Add(1)
		lg.Error("upgrade: phase rollback: this process accepts again and keeps its sessions",
			zap.Error(err), zap.NamedError("resume_error", rerr), zap.Int("sessions", reg.Count()),
			zap.Int("taken_back", back), zap.Duration("pause", time.Duration(o.Stats.LastPause.Load())))
		return fmt.Errorf("%w: %v", ErrRolledBack, err)
	}
	return nil
}

// finish ends an upgrade whose sessions all left: done. With takeback the
// sessions still wait, parked, for the new process's taken: then they
// close this process's copies of their sockets; no taken (the new
// process died) is a failed upgrade, and they serve on here.
func (o *Old) finish(h *hand, reg *session.Registry, start time.Time, beforeDone []func() error, lg *zap.Logger) error {
	if !h.takeback {
		for _, fn := range beforeDone {
			_ = fn()
		}
		o.Stats.Upgrades.Add(1)
		o.Stats.LastDuration.Store(int64(time.Since(start)))
		snap := o.Stats.Snapshot()
		h.mu.Lock()
		err := h.c.send(&message{Type: msgDone, Stats: &snap})
		h.mu.Unlock()
		if err != nil {
			lg.Warn("upgrade: done not delivered", zap.Error(err))
		}
		// The new process closes the socket once it took the service over
		// (systemd's main pid): this one exits after that.
		select {
		case <-h.dead:
		case <-time.After(5 * time.Second):
		}
		lg.Info("upgrade: phase done: every session handed over", zap.Duration("duration", time.Since(start)),
			zap.Uint64("handed_over", o.Stats.HandedOver.Load()))
		return nil
	}
	// The counters as they are once the new process took the last
	// sessions (it reports them as its own).
	snap := o.Stats.Snapshot()
	snap.Upgrades++
	snap.HandedOver += uint64(h.parkedCount())
	snap.LastDuration = time.Since(start)
	snap.LastPause = max(snap.LastPause, h.parkedFor())
	if err := h.commit(&message{Type: msgDone, Stats: &snap}); err != nil {
		return err
	}
	// The new process opens its own upgrade socket once this one closed
	// the handover connection (after this).
	for _, fn := range beforeDone {
		_ = fn()
	}
	h.release(true)
	o.Stats.Upgrades.Add(1)
	o.Stats.LastDuration.Store(int64(time.Since(start)))
	waitGone(reg)
	lg.Info("upgrade: phase done: every session handed over", zap.Duration("duration", time.Since(start)),
		zap.Uint64("handed_over", o.Stats.HandedOver.Load()),
		zap.Duration("pause", time.Duration(o.Stats.LastPause.Load())))
	return nil
}

func errOr(err error, m *message) string {
	if err != nil {
		return err.Error()
	}
	return m.Type + " " + m.Err
}

// sendState sends the configuration (with the monitor's view) and the
// listening sockets (with the gossip port). The cluster node, if any, is
// detached here: g is its port, to resume on if the upgrade fails.
//
// gossip: the new binary takes the gossip port (an older one does not:
// the node then stays up here until this process exits, as before).
//
// takeback: the new binary serves the sessions only once committed
// (takeback.go); the configuration message says this process does so.
func (o *Old) sendState(c *conn, lg *zap.Logger, gossip, takeback bool) (g *Gossip, err error) {
	cfg, err := o.Src.Config()
	if err != nil {
		return nil, err
	}
	ss, _ := o.Src.(StateSource)
	// The margin covers the clients this process still accepts until the
	// new one is ready.
	m := &message{Type: msgConfig, Config: cfg, ConnID: protocol.LastConnID() + connIDMargin}
	if takeback {
		m.Features = []string{featureTakeback}
	}
	if ss != nil {
		// A view that cannot be had only makes the new monitor start
		// afresh.
		if m.Monitor, err = ss.MonitorView(); err != nil {
			lg.Warn("upgrade: monitor view not handed over", zap.Error(err))
			m.Monitor = nil
		}
	}
	if err := c.send(m); err != nil {
		return nil, err
	}
	ls, files, err := o.Src.Listeners()
	if err != nil {
		return nil, err
	}
	defer closeFiles(files)
	if ss != nil && gossip {
		if g, err = ss.DetachGossip(); err != nil {
			return nil, err
		}
	}
	return g, o.sendListeners(c, ls, files, g)
}

// sendListeners sends the listening sockets, then the gossip port's.
func (o *Old) sendListeners(c *conn, ls []Listening, files []*os.File, g *Gossip) error {
	if g != nil {
		files = append(files, g.TCP, g.UDP)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		// Not f.Fd(): it would put the socket, shared with the running
		// listener, in blocking mode (and hang its Close).
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		if err := rc.Control(func(fd uintptr) { fds[i] = int(fd) }); err != nil {
			return err
		}
	}
	m := &message{Type: msgListeners, Listeners: ls}
	if g != nil {
		m.Gossip = &g.Info
	}
	return c.send(m, fds...)
}

// endGossip finishes with the detached node's port: on success the new
// process gossips on it and this one only closes its copy; on failure a
// node starts again on it here (under the same name: the peers see the
// member refute the suspicion, not leave).
func (o *Old) endGossip(g *Gossip, err error) {
	if g == nil {
		return
	}
	defer g.close()
	if err == nil {
		return
	}
	if rerr := o.Src.(StateSource).ResumeGossip(g); rerr != nil {
		o.Log.Error("upgrade: cluster node not resumed after the failed upgrade", zap.Error(rerr))
		return
	}
	o.Log.Info("upgrade: cluster node resumed on its gossip port")
}

// waitEmpty waits until every session has left (or, with takeback, waits
// parked for the new process to take it), closing the ones that cannot
// at the drain deadline; an error is the new process gone. Parked sessions
// that waited CommitWait for the others are committed to the new process
// (takeback.go).
func (o *Old) waitEmpty(ctx context.Context, reg *session.Registry, h *hand, lg *zap.Logger) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(o.drainTimeout())
	defer deadline.Stop()
	drained := false
	for {
		if reg.Unhanded() == 0 {
			return nil
		}
		select {
		case <-h.dead:
			return fmt.Errorf("new process gone: %w", h.err())
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if !drained {
				n := reg.Unhanded()
				o.Stats.Drained.Add(uint64(n))
				lg.Warn("upgrade: phase drain: sessions that could not leave are closed at their next boundary",
					zap.Int("sessions", n))
				reg.Drain(time.Now())
				drained = true
			}
		case <-tick.C:
			if h.commitDue(o.commitWait()) {
				// Every session left: done follows at once and covers
				// the parked ones, which a commit now would put at risk
				// for nothing (a new process dying at done loses what
				// was committed, and gives back what was not).
				if reg.UnhandedExcept(h.isParked) == 0 {
					return nil
				}
				if err := h.commit(&message{Type: msgCommit}); err != nil {
					return err
				}
				n := h.release(true)
				h.parked.Lock()
				h.parked.committed += n
				h.parked.Unlock()
				lg.Info("upgrade: phase commit: the new process serves the sessions it received; others finish their statement",
					zap.Int("sessions", n))
			}
		}
	}
}

func (o *Old) readyTimeout() time.Duration { return orDefault(o.ReadyTimeout, DefaultReadyTimeout) }
func (o *Old) ackTimeout() time.Duration   { return orDefault(o.AckTimeout, DefaultAckTimeout) }
func (o *Old) drainTimeout() time.Duration { return orDefault(o.DrainTimeout, DefaultDrainTimeout) }
func (o *Old) commitWait() time.Duration   { return orDefault(o.CommitWait, DefaultCommitWait) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// hand sends sessions to the new process (session.Handoff).
type hand struct {
	mu      sync.Mutex // one session on the socket at a time
	c       *conn
	acks    chan *message
	dead    chan struct{}
	deadErr atomic.Value
	stats   *Stats
	timeout time.Duration
	// takeback: the new process serves a session only once committed;
	// until then the session waits here, parked (takeback.go).
	takeback bool
	parked   struct {
		sync.Mutex
		list  []*parkedSession
		ids   map[uint32]bool // the ids of list's sessions
		given bool            // the upgrade failed: every session is given back
		// committed counts the sessions taken by a commit before done
		// (lost if the new process dies before done).
		committed int
	}
}

var _ session.Handoff = (*hand)(nil)

var errGone = errors.New("handover: new process gone")

func (h *hand) err() error {
	if e, ok := h.deadErr.Load().(error); ok {
		return e
	}
	return errGone
}

// readLoop receives the new process's answers; the end of the socket (the
// new process died) closes dead.
func (h *hand) readLoop() {
	defer close(h.dead)
	for {
		m, fds, err := h.c.recv()
		closeFiles(fds)
		if err != nil {
			h.deadErr.Store(err)
			return
		}
		if m.Type == msgAbort {
			h.deadErr.Store(errors.New("new process aborted: " + m.Err))
			return
		}
		h.acks <- m
	}
}

// Hand implements session.Handoff.
func (h *hand) Hand(d *session.Durable, client, backend net.Conn) (func() bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.dead:
		return nil, h.err()
	default:
	}
	b, err := d.Marshal()
	if err != nil {
		return nil, err
	}
	m := &message{Type: msgSession, ID: d.ConnID, Session: b}
	err = connFD(client, func(fd int) error {
		if backend == nil {
			return h.c.send(m, fd)
		}
		return connFD(backend, func(bfd int) error { return h.c.send(m, fd, bfd) })
	})
	if err != nil {
		_ = h.c.uc.Close() // readLoop ends: the upgrade rolls back
		return nil, err
	}
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case m := <-h.acks:
		return h.answer(m, d.ConnID)
	case <-h.dead:
		select {
		case m := <-h.acks: // answered, then died
			return h.answer(m, d.ConnID)
		default:
			return nil, h.err()
		}
	case <-t.C:
		_ = h.c.uc.Close()
		if h.takeback {
			// The new process serves nothing before it is committed: the
			// upgrade rolls back and the session stays.
			return nil, errors.New("handover: no answer from the new process")
		}
		// The new process may still serve it: this process must not.
		// Its socket is closed here only; the client sees the session
		// end if the new process does not serve it.
		h.stats.Failed.Add(1)
		return takenNow, nil
	}
}

// takenNow is the outcome of a session the new process serves from its ack
// (no take-back).
func takenNow() bool { return true }

func (h *hand) answer(m *message, id uint32) (func() bool, error) {
	switch {
	case m.Type == msgAck && m.ID == id:
		if !h.takeback {
			h.stats.HandedOver.Add(1)
			return takenNow, nil
		}
		return h.park(id), nil
	case m.Type == msgNack && m.ID == id:
		h.stats.Refused.Add(1)
		return nil, errors.New("handover: refused by the new process: " + m.Err)
	default:
		_ = h.c.uc.Close()
		return nil, fmt.Errorf("handover: unexpected %q for session %d", m.Type, id)
	}
}

// ListenSocket opens the upgrade socket at path (mode 0600: only the
// proxy's user may take it over), replacing a stale one.
func ListenSocket(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("handover: %s is in use by a running process", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}
