package testkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// StopOnExit starts a watchdog process that runs `sandbox down` if this
// test binary dies without stopping the sandbox itself: a panicking test,
// a -timeout or a signal end the process without running TestMain's
// defers. disarm tells the watchdog the sandbox is already down.
func (s *Sandbox) StopOnExit() (disarm func()) { return watchdog(s.script, s.Env(), "down") }

// StopOnExit is Sandbox.StopOnExit for the group: `sandbox mgr-down`.
func (g *MGR) StopOnExit() (disarm func()) { return watchdog(g.script, g.Env(), "mgr-down") }

// watchdog runs `script down` when this process ends without disarm
// being called. The watchdog holds the read end of a pipe whose write end
// only this process has; when the process ends, however it ends, the read
// returns, and disarm writes "stopped" first.
func watchdog(script string, env []string, down string) (disarm func()) {
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", `read x; [ "$x" = stopped ] || exec "$0" "$1"`, script, down)
	cmd.Stdin = r
	cmd.Env = append(os.Environ(), env...)
	// Own session: a ^C to go test's process group must not kill the
	// watchdog before it has stopped the servers. No stdout/stderr is
	// inherited, so go test does not wait for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testkit: no watchdog for %s %s: %v\n", script, down, err)
		_ = w.Close()
		return func() {}
	}
	return func() {
		_, _ = w.WriteString("stopped\n")
		_ = w.Close()
		_ = cmd.Wait()
	}
}

// MissingTools lists the tools found neither on PATH nor in the sbin
// directories (mariadbd lives in /usr/sbin).
func MissingTools(tools ...string) []string {
	var missing []string
	for _, tool := range tools {
		if !haveTool(tool) {
			missing = append(missing, tool)
		}
	}
	return missing
}

// runScript runs scripts/sandbox with args and env, bounded by
// sandboxCmdTimeout. It returns stdout; on failure the error includes
// stdout and stderr.
func runScript(script string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sandboxCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("sandbox %s: %w\n%s%s",
			strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
