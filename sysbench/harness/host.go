package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// SetClockTicks sets ClockTicks from `getconf CLK_TCK`, leaving it at 100
// when getconf is missing.
func SetClockTicks() {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			ClockTicks = float64(n)
		}
	}
}

// FileField is the value of the first "key : value" line of a /proc file
// ("?" when there is none).
func FileField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// FirstLine is the first line of a file, trimmed ("?" when unreadable).
func FirstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// CommandLine is the first line a command prints ("?" when it fails).
func CommandLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// RunLogged runs a command to completion in dir, with env added, its
// output appended to logPath and in its own process group (a Ctrl-C at the
// terminal reaches only the caller, which then stops things in order); on
// failure the error carries the log's path.
func RunLogged(ctx context.Context, dir, logPath string, env []string, argv ...string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n$ %v\n", argv)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %w (log: %s)", argv, err, logPath)
	}
	return nil
}

// RunSysbench runs one command (sysbench) to completion in its own process
// group, so that a Ctrl-C at the terminal reaches only the caller, and
// returns its combined output, exit code (-1 when it could not start or
// died by a signal) and the CPU seconds it used.
func RunSysbench(ctx context.Context, argv []string) (string, int, float64) {
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		return buf.String() + "\n" + err.Error(), -1, 0
	}
	ps := cmd.ProcessState
	return buf.String(), ps.ExitCode(), (ps.UserTime() + ps.SystemTime()).Seconds()
}
