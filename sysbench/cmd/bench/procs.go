package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// proc is a long-running child (rwproxy, relay) in its own process group,
// so a Ctrl-C at the terminal reaches only the harness, which then stops
// it in order.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(name, logPath, dir string, argv ...string) (*proc, error) {
	// Appended to: a process started again (the multiplexing runs) keeps
	// the earlier one's log.
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitListening polls addr until it accepts a connection, the process
// exits, ctx ends or 30 s pass.
func (p *proc) waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		switch {
		case !p.alive():
			return fmt.Errorf("%s exited (see its log)", p.name)
		case time.Now().After(deadline):
			return fmt.Errorf("%s is not listening on %s after 30s", p.name, addr)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// portsFree fails when something already listens on one of the ports.
func portsFree(ps ...int) error {
	for _, port := range ps {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("127.0.0.1:%d is in use (another run? pick another -base-port / BENCH_BASE_PORT)", port)
		}
	}
	return nil
}
