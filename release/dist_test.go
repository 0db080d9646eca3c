package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

func TestVersionFrom(t *testing.T) {
	at := time.Date(2026, 12, 6, 22, 58, 11, 0, time.UTC)
	const commit = "d4438d271f4b0123456789abcdef0123456789ab"
	for _, c := range []struct {
		describe  string
		ok, dirty bool
		want      string
	}{
		{"v0.2.0-0-gd4438d271f4b", true, false, "0.2.0"},
		{"v0.2.0-3-gd4438d271f4b", true, false, "0.2.0+3.gd4438d271f4b"},
		{"v1.0.0-rc.1-0-gd4438d271f4b", true, false, "1.0.0-rc.1"},
		{"v0.2.0-0-gd4438d271f4b", true, true, "0.2.0+dirty"},
		{"", false, false, "0.0.0-dev+20261206225811.gd4438d271f4b"},
		{"", false, true, "0.0.0-dev+20261206225811.gd4438d271f4b.dirty"},
	} {
		require.Equal(t, c.want, VersionFrom(c.describe, c.ok, commit, at, c.dirty), "%+v", c)
	}
}

// TestWriteTarGz: sorted names, owner 0:0, the given mtime on every entry,
// and a gzip header without name or time, whatever the order given.
func TestWriteTarGz(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	var a, b bytes.Buffer
	es := []tarEntry{{"d/z", 0o644, []byte("z")}, {"d/a", 0o755, []byte("a")}}
	require.NoError(t, WriteTarGz(&a, "d/", es, at))
	require.NoError(t, WriteTarGz(&b, "d/", []tarEntry{es[1], es[0]}, at))
	require.Equal(t, a.Bytes(), b.Bytes())
	zr, err := gzip.NewReader(bytes.NewReader(a.Bytes()))
	require.NoError(t, err)
	require.True(t, zr.ModTime.IsZero())
	require.Empty(t, zr.Name)
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		require.Equal(t, 0, h.Uid)
		require.Equal(t, 0, h.Gid)
		require.True(t, h.ModTime.Equal(at), h.Name)
	}
	require.Equal(t, []string{"d/", "d/a", "d/z"}, names)
}

// TestPackagedConfig: the Debian package's configuration is the example
// configuration with admin.datadir at /var/lib/rwproxy, and rwproxy loads it.
func TestPackagedConfig(t *testing.T) {
	b, err := PackagedConfig("..")
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "rwproxy.yaml")
	require.NoError(t, os.WriteFile(f, b, 0o600))
	cfg, err := config.Load(f)
	require.NoError(t, err)
	require.Equal(t, "/var/lib/rwproxy", cfg.Admin.Datadir)
}

// TestDistReproducible runs the release build twice (both platforms,
// tarballs and Debian packages) into two directories and requires
// byte-identical artifacts; it then checks the tarball's contents and
// runs the host platform's binary, which must report the embedded version.
func TestDistReproducible(t *testing.T) {
	first := sharedDist(t)
	o := first.opts
	version, root := o.Version, o.Root
	d1, a1 := o.Out, first.arts
	d2 := t.TempDir()
	// The inputs' file times must not matter: touch them between the runs.
	now := time.Now()
	for _, f := range []string{"LICENSE", "README.md", "CHANGELOG.md"} {
		require.NoError(t, os.Chtimes(filepath.Join(root, f), now, now))
	}
	o.Out = d2
	a2, err := Build(o)
	require.NoError(t, err)
	require.Equal(t, a1, a2)
	require.Len(t, a1, 4, "a tarball and a .deb per platform: %v", a1)
	for _, name := range append(slices.Clone(a1), "SHA256SUMS") {
		b1, err := os.ReadFile(filepath.Join(d1, name))
		require.NoError(t, err)
		b2, err := os.ReadFile(filepath.Join(d2, name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(b1, b2), "%s differs between two runs", name)
	}
	sums, err := os.ReadFile(filepath.Join(d1, "SHA256SUMS"))
	require.NoError(t, err)
	for _, name := range a1 {
		require.Contains(t, string(sums), "  "+name+"\n")
	}
	// sha256sum agrees with SHA256SUMS
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
		cmd.Dir = d1
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}

	base := "rwproxy-" + version + "-linux-" + runtime.GOARCH
	files := untar(t, filepath.Join(d1, base+".tar.gz"), t.TempDir())
	require.Equal(t, []string{base + "/", base + "/CHANGELOG.md", base + "/LICENSE", base + "/README.md",
		base + "/rwproxy", base + "/rwproxy.service", base + "/rwproxy.yaml"}, files.names)
	bin := filepath.Join(files.dir, base, "rwproxy")
	fi, err := os.Stat(bin)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	out, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), version, "rwproxy version reports the embedded version")
	// static: no program interpreter (ELF PT_INTERP) means no dynamic loader
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.False(t, bytes.Contains(b[:min(len(b), 4096)], []byte("/lib64/ld-linux")), "the binary is static")
	// the Debian package's control data, read by dpkg-deb when present
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		deb := filepath.Join(d1, "rwproxy_"+debVersion(version)+"_"+runtime.GOARCH+".deb")
		out, err := exec.Command("dpkg-deb", "--field", deb, "Package", "Architecture").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "Package: rwproxy\nArchitecture: "+runtime.GOARCH+"\n", string(out))
		out, err = exec.Command("dpkg-deb", "--contents", deb).CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, p := range []string{"./usr/bin/rwproxy", "./etc/rwproxy/rwproxy.yaml", "./lib/systemd/system/rwproxy.service",
			"./var/lib/rwproxy/", "./usr/lib/sysusers.d/rwproxy.conf"} {
			require.Contains(t, string(out), p)
		}
		out, err = exec.Command("dpkg-deb", "--ctrl-tarfile", deb).Output()
		require.NoError(t, err)
		ctrl := untarBytes(t, out)
		require.Contains(t, ctrl, "./conffiles")
		require.Equal(t, "/etc/rwproxy/rwproxy.yaml\n", ctrl["./conffiles"])
		for _, s := range []string{"./postinst", "./prerm", "./postrm"} {
			require.Contains(t, ctrl, s)
		}
	}
}

// debVersion is the version nfpm writes into a .deb's name: a semver
// pre-release "-x" becomes "~x" (sorts before the release).
func debVersion(v string) string {
	main, meta, hasMeta := strings.Cut(v, "+")
	main = strings.Replace(main, "-", "~", 1)
	if hasMeta {
		return main + "+" + meta
	}
	return main
}

// distRun is one release build of every platform, tarballs and debs.
type distRun struct {
	opts Options
	arts Artifacts
	err  error
}

var (
	sharedOnce sync.Once
	shared     distRun
)

// sharedDist builds every artifact once for the package's tests (the
// reproducibility test compares a second build with it; the .deb and
// image tests use its host-platform files), in a directory removed by
// TestMain.
func sharedDist(t *testing.T) distRun {
	t.Helper()
	sharedOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			shared.err = err
			return
		}
		version, commit, date, err := Describe(root)
		if err != nil {
			shared.err = err
			return
		}
		out, err := os.MkdirTemp("", "rwproxy-dist-test-")
		if err != nil {
			shared.err = err
			return
		}
		sharedDir = out
		shared.opts = Options{Root: root, Out: out, Version: version, Commit: commit, Date: date,
			Tarballs: true, Debs: true, Go: goCmd(t)}
		shared.arts, shared.err = Build(shared.opts)
	})
	require.NoError(t, shared.err)
	return shared
}

var sharedDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func goCmd(t *testing.T) string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	g := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(g); err != nil {
		t.Fatalf("no go command at %s; set GO", g)
	}
	return g
}

type untarred struct {
	dir   string
	names []string
}

func untar(t *testing.T, file, dir string) untarred {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	u := untarred{dir: dir}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return u
		}
		require.NoError(t, err)
		u.names = append(u.names, h.Name)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, os.FileMode(h.Mode)))
	}
}

// untarBytes reads a .deb's control tarball (gzip, xz or zstd: dpkg-deb
// --ctrl-tarfile decompresses it) into name -> content.
func untarBytes(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		c, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = string(c)
	}
}
