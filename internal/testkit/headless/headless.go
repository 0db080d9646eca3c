// Package headless runs the system's headless Chromium for the dashboard
// tests: it loads a page, lets its scripts run for a virtual-time budget,
// then dumps the DOM or takes a screenshot. Each run gets a fresh profile
// directory and its own process group, killed when the context ends.
//
// The flags suit a root user on a machine without network or GPU
// (--no-sandbox, --disable-gpu, no background networking).
package headless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// ErrNotFound is returned by Find when no Chromium binary is on PATH.
var ErrNotFound = errors.New("headless: no chromium binary (apt-get install -y chromium)")

// Find returns the path of a Chromium binary, or ErrNotFound.
func Find() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Options of one run.
type Options struct {
	// Bin is the Chromium binary (Find's result).
	Bin string
	// Budget is the virtual time the page's scripts get before the DOM is
	// dumped or the screenshot taken (timers fire, fetches complete).
	Budget time.Duration
	// Width and Height size the window (default 1400×1000).
	Width, Height int
}

// DumpDOM loads url and returns the serialized DOM after the budget.
func DumpDOM(ctx context.Context, o Options, url string) (string, error) {
	out, err := run(ctx, o, "--dump-dom", url)
	return string(out), err
}

// Screenshot loads url and writes a PNG of the window to path.
func Screenshot(ctx context.Context, o Options, url, path string) error {
	_, err := run(ctx, o, "--screenshot="+path, "--hide-scrollbars", url)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return fmt.Errorf("headless: no screenshot written to %s: %v", path, err)
	}
	return nil
}

func run(ctx context.Context, o Options, args ...string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "rwproxy-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = 1400, 1000
	}
	full := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + dir,
		"--window-size=" + strconv.Itoa(o.Width) + "," + strconv.Itoa(o.Height),
		"--virtual-time-budget=" + strconv.FormatInt(o.Budget.Milliseconds(), 10),
	}, args...)
	cmd := exec.CommandContext(ctx, o.Bin, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+dir) // keep Chromium's files out of the real home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.Process != nil {
		// The browser's helpers share its process group; none may outlive it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		return nil, fmt.Errorf("headless: %s: %w\n%s", o.Bin, err, tail(stderr.Bytes(), 2000))
	}
	return stdout.Bytes(), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// RequireEnv names the environment variable that, set to 1, makes ForTest
// fail instead of skip when Chromium is missing (CI sets it where it
// installs Chromium).
const RequireEnv = "RWPROXY_REQUIRE_CHROMIUM"

// ForTest returns the Chromium binary for a test. Without one the test is
// skipped, or fails when RequireEnv is 1.
func ForTest(tb testing.TB) string {
	tb.Helper()
	bin, err := Find()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%v (%s=1)", err, RequireEnv)
		}
		tb.Skip(err)
	}
	return bin
}
