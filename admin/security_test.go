package admin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

// rwproxy.db holds plain-text passwords: it is created readable by its
// owner only, and an existing one (0644, as earlier versions left it) is
// restricted at start, with a warning.
func TestDiskFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DiskFile)
	_, err := Bootstrap(dir, testConfig(), false)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), modeOf(t, path), "a new disk file")

	require.NoError(t, os.Chmod(path, 0o644))
	cfg := testConfig()
	cfg.Admin.Datadir = dir
	core, logs := observer.New(zapcore.WarnLevel)
	e, _ := newTestEngine(t, cfg, zap.New(core))
	require.Equal(t, os.FileMode(0o600), modeOf(t, path), "an existing disk file is tightened at start")
	require.Equal(t, 1, logs.FilterMessageSnippet("restricted it to its owner").Len())

	exec(t, e, "SAVE MYSQL USERS TO DISK")
	require.Equal(t, os.FileMode(0o600), modeOf(t, path))

	// --initial keeps the old file as a backup: private too.
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = Bootstrap(dir, testConfig(), true)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), modeOf(t, path+".bak"))
	require.Equal(t, os.FileMode(0o600), modeOf(t, path))

	// SaveConfig (a cluster node's writes) on a fresh datadir.
	dir2 := t.TempDir()
	require.NoError(t, SaveConfig(dir2, testConfig()))
	require.Equal(t, os.FileMode(0o600), modeOf(t, filepath.Join(dir2, DiskFile)))
}

// The default admin password (allowed on loopback only) is warned about
// at start; a real one is not.
func TestWeakAdminPasswordWarned(t *testing.T) {
	for _, tc := range []struct {
		password string
		warn     bool
	}{{"admin", true}, {"", true}, {"a-real-admin-password", false}} {
		cfg := testConfig()
		cfg.Admin.Password = tc.password
		cfg.Admin.Datadir = t.TempDir()
		core, logs := observer.New(zapcore.WarnLevel)
		s, err := New(Options{Runtime: &fakeRuntime{cfg: cfg}, Log: zap.New(core)})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.Equal(t, tc.warn, logs.FilterMessageSnippet("allowed on a loopback admin.listen only").Len() == 1, "password %q", tc.password)
	}
}
