package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeScript writes a script that records its first argument in out.
func fakeScript(t *testing.T) (script, out string) {
	dir := t.TempDir()
	script, out = filepath.Join(dir, "sandbox"), filepath.Join(dir, "ran")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" > \""+out+"\"\n"), 0o755))
	return script, out
}

// TestMain doubles as the process that dies without disarming its
// watchdog, for TestWatchdog.
func TestMain(m *testing.M) {
	if script := os.Getenv("WATCHDOG_SCRIPT"); script != "" {
		watchdog(script, nil, "down")
		os.Exit(3) // like a -timeout or a panic: no deferred cleanup runs
	}
	os.Exit(m.Run())
}

func TestWatchdog(t *testing.T) {
	t.Run("a process that dies runs the script", func(t *testing.T) {
		script, out := fakeScript(t)
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "WATCHDOG_SCRIPT="+script)
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, ee.ExitCode())
		require.Eventually(t, func() bool {
			b, err := os.ReadFile(out)
			return err == nil && string(b) == "down\n"
		}, 30*time.Second, 20*time.Millisecond, "the watchdog ran `sandbox down`")
	})
	t.Run("disarmed, it runs nothing", func(t *testing.T) {
		script, out := fakeScript(t)
		disarm := watchdog(script, nil, "mgr-down")
		disarm()
		time.Sleep(200 * time.Millisecond)
		require.NoFileExists(t, out)
	})
}

func TestMissingTools(t *testing.T) {
	require.Empty(t, MissingTools("sh"))
	require.Equal(t, []string{"no-such-tool-rwproxy"}, MissingTools("sh", "no-such-tool-rwproxy"))
}
