package handover

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rwproxy/rwproxy/session"
)

// Take-back: a new process that dies during the handover loses no session.
//
// With featureTakeback (both binaries have it) the new process rebuilds
// every session it receives and acknowledges it, but serves none until
// the old process commits them: msgCommit, or msgDone for the last ones,
// which it answers with msgTaken before it serves them. Until the taken
// arrives, each session handed over waits on the old side, parked in
// session.Handoff's taken func, still owning its client socket and its
// pinned backend connection; nobody reads them (the client's next request
// waits in the kernel's buffer). Then:
//
//   - taken: the parked sessions close this process's copies of their
//     descriptors (a close only: no shutdown(), no COM_QUIT, so the
//     sockets stay as they are for the new process);
//   - the new process dies, the socket fails, or the upgrade is given up
//     before taken: the parked sessions are given back and serve on here,
//     their sockets and backend connections untouched (the new process
//     only ever closes its copies of them, unserved).
//
// The commit point is the new process's write of taken: it sends it
// before it serves, and the old process reads it before the socket's end,
// so exactly one of them serves each session. A new process that neither
// answers nor dies within AckTimeout is killed (SIGKILL, by the pid the
// kernel gives for the socket's peer), and what it wrote before that
// decides.
//
// Parked sessions wait for the others: a session still running a long
// statement would stall the clients of all the handed ones, and a parked
// session inside a transaction keeps its row locks, which other sessions
// may be waiting for before they can reach their boundary. Parked
// sessions are therefore committed (msgCommit) without waiting for the
// rest once the oldest waited CommitWait, or once none arrived for
// CommitWait/5; only those are lost if the new process dies later. The
// longest wait of a session is the upgrade's LastPause.

// parkedSession is a session waiting for the upgrade's outcome.
type parkedSession struct {
	id uint32
	at time.Time
	ch chan bool // true: taken by the new process; false: given back
}

// park makes the session id, just acknowledged, wait for the upgrade's
// outcome.
func (h *hand) park(id uint32) func() bool {
	p := &parkedSession{id: id, at: time.Now(), ch: make(chan bool, 1)}
	h.parked.Lock()
	given := h.parked.given
	if !given {
		h.parked.list = append(h.parked.list, p)
		if h.parked.ids == nil {
			h.parked.ids = make(map[uint32]bool)
		}
		h.parked.ids[id] = true
	}
	h.parked.Unlock()
	if given {
		h.stats.TakenBack.Add(1)
		return func() bool { return false }
	}
	return func() bool { return <-p.ch }
}

// release ends the wait of every parked session: taken (true) or given
// back (false, and so will be any session parked later). It returns how
// many there were.
func (h *hand) release(taken bool) int {
	h.parked.Lock()
	list := h.parked.list
	h.parked.list = nil
	clear(h.parked.ids)
	if !taken {
		h.parked.given = true
	}
	h.parked.Unlock()
	now := time.Now()
	for _, p := range list {
		if taken {
			h.stats.HandedOver.Add(1)
		} else {
			h.stats.TakenBack.Add(1)
		}
		h.notePause(now.Sub(p.at))
		p.ch <- taken
	}
	return len(list)
}

// notePause keeps the longest pause of the upgrade.
func (h *hand) notePause(d time.Duration) {
	for {
		cur := h.stats.LastPause.Load()
		if int64(d) <= cur || h.stats.LastPause.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// committedCount is the number of sessions committed before done.
func (h *hand) committedCount() int {
	h.parked.Lock()
	defer h.parked.Unlock()
	return h.parked.committed
}

func (h *hand) parkedCount() int {
	h.parked.Lock()
	defer h.parked.Unlock()
	return len(h.parked.list)
}

// parkedFor is how long the oldest parked session has waited.
func (h *hand) parkedFor() time.Duration {
	h.parked.Lock()
	defer h.parked.Unlock()
	if len(h.parked.list) == 0 {
		return 0
	}
	return time.Since(h.parked.list[0].at)
}

// isParked reports whether session id waits for the upgrade's outcome
// (it may not have marked itself handed yet: Registry.Unhanded still
// counts it for a moment).
func (h *hand) isParked(id uint32) bool {
	h.parked.Lock()
	defer h.parked.Unlock()
	return h.parked.ids[id]
}

// commitDue reports whether the parked sessions should be committed now:
// the oldest waited wait for the others, or none arrived for wait/5 (the
// sessions left are running a statement, perhaps waiting for a lock that
// a parked session's transaction holds: a lock convoy, which only a
// commit ends).
func (h *hand) commitDue(wait time.Duration) bool {
	if !h.takeback {
		return false
	}
	h.parked.Lock()
	defer h.parked.Unlock()
	n := len(h.parked.list)
	return n > 0 && (time.Since(h.parked.list[0].at) >= wait || time.Since(h.parked.list[n-1].at) >= wait/5)
}

// commit sends m (commit or done) and waits for the new process's taken:
// nil, it serves every session it received (release(true)); an error,
// it serves none (release(false)).
func (h *hand) commit(m *message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.c.send(m); err != nil {
		_ = h.c.uc.Close()
		return fmt.Errorf("%s not delivered: %w", m.Type, err)
	}
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	killed := false
	for {
		select {
		case a := <-h.acks:
			return h.isTaken(a)
		case <-h.dead:
			select {
			case a := <-h.acks: // answered, then died
				return h.isTaken(a)
			default:
				return fmt.Errorf("new process gone before it took the sessions: %w", h.err())
			}
		case <-t.C:
			if killed || !h.killPeer() {
				// Not known dead: closing the socket makes it abandon
				// the sessions at its next read, unless it is about to
				// write taken (documented: a new process that hangs this
				// long is not expected).
				_ = h.c.uc.Close()
				return errors.New("handover: the new process did not take the sessions")
			}
			killed = true
			t.Reset(h.timeout)
		}
	}
}

func (h *hand) isTaken(a *message) error {
	if a.Type == msgTaken {
		return nil
	}
	_ = h.c.uc.Close()
	return fmt.Errorf("handover: %q instead of taken", a.Type)
}

// killPeer kills the process at the other end of the handover socket (it
// is silent: only its death makes what it wrote final); false when it
// cannot be known or is this process (tests run both sides in one).
func (h *hand) killPeer() bool {
	pid := 0
	_ = connFD(h.c.uc, func(fd int) error {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err == nil {
			pid = int(cred.Pid)
		}
		return err
	})
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	return syscall.Kill(pid, syscall.SIGKILL) == nil
}

// waitGone waits (briefly: they only close descriptors) until the
// sessions taken by the new process have left the registry.
func waitGone(reg *session.Registry) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(5 * time.Second)
	for reg.Count() > 0 && time.Now().Before(end) {
		<-tick.C
	}
}
