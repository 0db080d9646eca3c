package release

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// buildHost builds the host platform's tarball and/or .deb into a
// temporary directory, versioned from git as make dist does.
func buildHost(t *testing.T, tarballs, debs bool) (Options, Artifacts) {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	version, commit, date, err := Describe(root)
	require.NoError(t, err)
	o := Options{Root: root, Out: t.TempDir(), Version: version, Commit: commit, Date: date,
		Platforms: []string{"linux/" + runtime.GOARCH}, Tarballs: tarballs, Debs: debs, Go: goCmd(t)}
	arts, err := Build(o)
	require.NoError(t, err)
	return o, arts
}

// TestDebInstallsInBookwormChroot builds the host platform's .deb and runs
// scripts/deb-test on it: dpkg -i in a fresh Debian bookworm chroot,
// `rwproxy version`, the rwproxy user, owners and modes, the conffile,
// systemd-analyze verify of the unit, and dpkg --purge removing it all.
// It needs root (debootstrap, chroot); exit 77 (the package mirror refused
// to build the chroot) skips, as the MySQL Group Replication tier does.
func TestDebInstallsInBookwormChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the .deb install test needs root; CI runs as root")
		}
		t.Skip("the .deb install test needs root (debootstrap, chroot)")
	}
	o, arts := buildHost(t, false, true)
	require.Len(t, arts, 1)
	cmd := exec.Command(filepath.Join(o.Root, "scripts", "deb-test"), filepath.Join(o.Out, arts[0]))
	b, err := cmd.CombinedOutput()
	t.Logf("scripts/deb-test:\n%s", b)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		t.Skip(strings.TrimSpace(string(b)))
	}
	require.NoError(t, err)
	require.Contains(t, string(b), "deb-test: ok   rwproxy version runs")
	require.Contains(t, string(b), " 0 failed")
}
