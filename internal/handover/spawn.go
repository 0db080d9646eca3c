package handover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Upgrader runs the old side of upgrades on the upgrade socket: a new
// process started with --takeover connects to it (Old.Serve), and
// `rwproxy upgrade` (or SIGUSR2, through Spawn) asks it to start one.
type Upgrader struct {
	Old *Old
	// Argv starts the new binary (its path as found at start, and the
	// flags); "--takeover <socket>" is appended.
	Argv []string
	ln   *net.UnixListener
	path string
	// Upgraded is closed when an upgrade completed: this process holds no
	// session any more and should exit.
	Upgraded chan struct{}
	mu       sync.Mutex
	busy     bool // a Spawn runs
	serving  bool // a takeover runs
	outcome  chan error
}

// NewUpgrader listens on the upgrade socket at path.
func NewUpgrader(path string, old *Old, argv []string) (*Upgrader, error) {
	ln, err := ListenSocket(path)
	if err != nil {
		return nil, err
	}
	return &Upgrader{Old: old, Argv: argv, ln: ln, path: path, Upgraded: make(chan struct{})}, nil
}

// Close stops listening (and removes the socket file).
func (u *Upgrader) Close() error { return u.ln.Close() }

// Run accepts on the upgrade socket until Close.
func (u *Upgrader) Run(ctx context.Context) {
	for {
		uc, err := u.ln.AcceptUnix()
		if err != nil {
			return
		}
		go u.handle(ctx, uc)
	}
}

// handle serves one connection: a takeover (hello) or a request to start
// one (spawn, from `rwproxy upgrade`).
func (u *Upgrader) handle(ctx context.Context, uc *net.UnixConn) {
	c := &conn{uc: uc}
	_ = uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, fds, err := c.peekType()
	closeFiles(fds)
	if err != nil {
		_ = uc.Close()
		return
	}
	if m == msgSpawn {
		err := u.spawn(c.first.FailAt)
		c.first = nil
		reply := &message{Type: msgDone}
		if err != nil {
			reply = &message{Type: msgAbort, Err: err.Error()}
		}
		_ = c.send(reply)
		_ = uc.Close()
		return
	}
	u.mu.Lock()
	if u.serving {
		u.mu.Unlock()
		_ = c.send(&message{Type: msgAbort, Err: "an upgrade is already running"})
		_ = uc.Close()
		return
	}
	u.serving = true
	u.mu.Unlock()
	err = u.Old.serve(ctx, c, []func() error{u.ln.Close})
	u.mu.Lock()
	u.serving = false
	if u.outcome != nil {
		u.outcome <- err
		u.outcome = nil
	}
	u.mu.Unlock()
	if err == nil {
		close(u.Upgraded)
	}
}

// Spawn starts the new binary with --takeover and waits for the upgrade's
// outcome: nil, it completed; an error, the new binary failed (to start,
// to validate, or during the handover) and this process serves on.
func (u *Upgrader) Spawn() error { return u.spawn("") }

// FailAtEnv names the failure-injection phase (see Phase*) of a new
// process in its environment; tests only.
const FailAtEnv = "RWPROXYTEST_TAKEOVER_FAIL_AT"

// CommitWaitEnv sets Old.CommitWait of a running process (a duration);
// tests only: a long wait makes every session wait for done, so that a
// new process dying at done must give every one of them back.
const CommitWaitEnv = "RWPROXYTEST_UPGRADE_COMMIT_WAIT"

func (u *Upgrader) spawn(failAt string) error {
	u.mu.Lock()
	if u.busy {
		u.mu.Unlock()
		return errors.New("handover: an upgrade is already running")
	}
	u.busy = true
	out := make(chan error, 1)
	u.outcome = out
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.busy, u.outcome = false, nil
		u.mu.Unlock()
	}()
	argv := append(append([]string(nil), u.Argv...), "--takeover", u.path)
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec // our own binary, from our own command line
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if failAt != "" {
		cmd.Env = append(os.Environ(), FailAtEnv+"="+failAt)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	u.Old.Log.Info("upgrade: phase spawn: starting the new binary", zap.Strings("argv", argv))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("handover: start %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-out:
		return err
	case err := <-exited:
		// It may have completed just before exiting with an error.
		select {
		case oerr := <-out:
			return oerr
		default:
		}
		return fmt.Errorf("handover: the new process exited before the upgrade completed: %v", err)
	}
}

// msgSpawn asks the old process to start the new binary.
const msgSpawn = "spawn"

// peekType reads the first message and keeps it (a hello for Serve).
func (c *conn) peekType() (string, []*os.File, error) {
	m, fds, err := c.recv()
	if err != nil {
		return "", nil, err
	}
	c.first = m
	return m.Type, fds, nil
}

// RequestUpgrade asks the process listening on the upgrade socket at path
// to start its new binary, and waits for the outcome.
func RequestUpgrade(path string, timeout time.Duration) error {
	nc, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to the running rwproxy (%s): %w", path, err)
	}
	defer nc.Close()
	c := &conn{uc: nc.(*net.UnixConn)}
	if err := c.send(&message{Type: msgSpawn, FailAt: os.Getenv(FailAtEnv)}); err != nil {
		return err
	}
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	m, fds, err := c.recv()
	closeFiles(fds)
	if err != nil {
		return fmt.Errorf("no answer from the running rwproxy: %w", err)
	}
	if m.Type != msgDone {
		return errors.New("upgrade failed, the running process keeps serving: " + m.Err)
	}
	return nil
}
