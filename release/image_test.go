package release

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestContainerImage builds deploy/container/Containerfile from the host
// platform's release tarball with podman (or buildah) and no network, then
// runs `rwproxy version` in the image and checks its metadata: non-root
// user, volumes, exposed ports, health check, OCI labels. Without podman or
// buildah it skips and says so (make test-packaging installs podman when
// it can; see CONTRIBUTING.md).
func TestContainerImage(t *testing.T) {
	builder := ImageBuilder()
	if builder == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI installs podman (.ci/run): the container image must be built")
		}
		t.Skip("neither podman nor buildah is installed: the container image is not built here")
	}
	o := sharedDist(t).opts
	version, commit := o.Version, o.Commit
	tag := "localhost/rwproxy-test:" + strings.NewReplacer("+", "_").Replace(version)
	var log strings.Builder
	require.NoError(t, BuildImage(o, builder, tag, &log), "%s", log.String())
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("buildah built the image but podman, needed to run it, is missing")
	}
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "-f", tag).Run() }) // runs after the unmount
	out, err := exec.Command(podman, "run", "--rm", "--network=none", tag, "version").CombinedOutput()
	if err != nil && strings.Contains(string(out), "OCI") {
		// The OCI runtime cannot start containers on this host (crun refuses
		// the VM's hybrid cgroup layout and its rlimits): run the image's own
		// binary in its root filesystem instead, as its user, with chroot.
		t.Logf("podman run: %s; running rwproxy version in the image's mounted root filesystem", strings.TrimSpace(string(out)))
		mnt, merr := exec.Command(podman, "image", "mount", tag).Output()
		require.NoError(t, merr)
		t.Cleanup(func() { _ = exec.Command(podman, "image", "unmount", tag).Run() })
		out, err = exec.Command("chroot", "--userspec=65532:65532", strings.TrimSpace(string(mnt)),
			"/usr/bin/rwproxy", "version").CombinedOutput()
	}
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), version)
	out, err = exec.Command(podman, "image", "inspect", tag).Output()
	require.NoError(t, err)
	var imgs []struct {
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			Labels       map[string]string
			Entrypoint   []string
		}
		HealthCheck *struct{ Test []string }
	}
	require.NoError(t, json.Unmarshal(out, &imgs))
	require.Len(t, imgs, 1)
	c := imgs[0].Config
	require.Equal(t, "65532:65532", c.User)
	require.Contains(t, c.Volumes, "/etc/rwproxy")
	require.Contains(t, c.Volumes, "/var/lib/rwproxy")
	for _, p := range []string{"6033/tcp", "6070/tcp", "7946/tcp", "7946/udp"} {
		require.Contains(t, c.ExposedPorts, p)
	}
	require.Equal(t, version, c.Labels["org.opencontainers.image.version"])
	require.Equal(t, commit, c.Labels["org.opencontainers.image.revision"])
	require.Equal(t, []string{"/usr/bin/rwproxy"}, c.Entrypoint)
	require.NotNil(t, imgs[0].HealthCheck)
	require.Contains(t, strings.Join(imgs[0].HealthCheck.Test, " "), "/healthz")
}
