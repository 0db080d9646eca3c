// Package release builds rwproxy's release artifacts: static binaries, one
// reproducible tarball and one Debian package per platform, and SHA256SUMS.
// `make dist` and `make deb` run it through release/cmd/dist; its tests
// (make test-packaging) check that two runs give byte-identical files, that
// the Kubernetes manifests decode strictly and match rwproxy's configuration.
//
// It is a module of its own so that the packager (nfpm) and the Kubernetes
// libraries never enter the proxy's go.mod.
package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// Platforms are the GOOS/GOARCH pairs released.
var Platforms = []string{"linux/amd64", "linux/arm64"}

// Options says what to build and from where.
type Options struct {
	Root      string    // the rwproxy source tree
	Out       string    // output directory (created; its artifacts are replaced)
	Version   string    // without a leading v, e.g. 0.2.0 or 0.2.0-3-gabc1234
	Commit    string    // full commit hash
	Date      time.Time // the commit's time: every mtime in the artifacts
	Platforms []string  // default Platforms
	Tarballs  bool      // build the tarballs
	Debs      bool      // build the Debian packages
	Go        string    // the go command; default "go"
	Log       io.Writer // progress lines; nil = none
}

// Describe fills Version, Commit and Date from git: the commit of HEAD,
// its commit time, and a version from the nearest v* tag: "0.2.0" on the
// tag itself, "0.2.0+3.gabc1234def0" three commits after it, and
// "0.0.0-dev+<yyyymmddhhmmss>.g<commit>" without a tag. Build metadata
// (after "+") sorts after the release in Debian's order, a pre-release
// ("-dev") before it. A tree with uncommitted changes gets ".dirty": such a
// build is not reproducible from its version.
func Describe(root string) (version, commit string, date time.Time, err error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", root}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if commit, err = git("rev-parse", "HEAD"); err != nil {
		return "", "", time.Time{}, err
	}
	ts, err := git("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return "", "", time.Time{}, err
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("git commit time %q: %w", ts, err)
	}
	date = time.Unix(sec, 0).UTC()
	desc, derr := git("describe", "--tags", "--long", "--abbrev=12", "--match", "v[0-9]*")
	dirty := false
	if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		dirty = true
	}
	return VersionFrom(desc, derr == nil, commit, date, dirty), commit, date, nil
}

// VersionFrom makes the release version from `git describe --long` output
// (tag-N-gHASH; ok false when no tag is reachable), as Describe documents.
func VersionFrom(describe string, ok bool, commit string, date time.Time, dirty bool) string {
	var v, meta string
	if parts := strings.Split(describe, "-"); ok && len(parts) >= 3 {
		hash := parts[len(parts)-1]
		n := parts[len(parts)-2]
		v = strings.TrimPrefix(strings.Join(parts[:len(parts)-2], "-"), "v")
		if n != "0" {
			meta = n + "." + hash
		}
	} else {
		v = "0.0.0-dev"
		meta = date.UTC().Format("20060102150405") + ".g" + commit[:min(12, len(commit))]
	}
	if dirty {
		meta = strings.TrimPrefix(meta+".dirty", ".")
	}
	if meta != "" {
		v += "+" + meta
	}
	return v
}

// Artifacts lists what Build wrote, relative to Options.Out, sorted.
type Artifacts []string

// Build compiles rwproxy for each platform and writes the requested
// artifacts and SHA256SUMS (over every artifact in Out) into o.Out.
func Build(o Options) (Artifacts, error) {
	if o.Version == "" || o.Commit == "" || o.Date.IsZero() {
		return nil, errors.New("release: Version, Commit and Date are required")
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if len(o.Platforms) == 0 {
		o.Platforms = Platforms
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var out Artifacts
	for _, p := range o.Platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return nil, fmt.Errorf("release: platform %q is not GOOS/GOARCH", p)
		}
		bin := filepath.Join(o.Out, ".build", goos+"-"+goarch, "rwproxy")
		if err := o.compile(goos, goarch, bin); err != nil {
			return nil, err
		}
		if o.Tarballs {
			name, err := o.tarball(goos, goarch, bin)
			if err != nil {
				return nil, err
			}
			out = append(out, name)
		}
		if o.Debs && goos == "linux" {
			name, err := o.deb(goarch, bin)
			if err != nil {
				return nil, err
			}
			out = append(out, name)
		}
	}
	if err := os.RemoveAll(filepath.Join(o.Out, ".build")); err != nil {
		return nil, err
	}
	if err := writeSums(o.Out); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// LDFlags are the linker flags of a release build: no symbol table or
// build ID, and the version, commit and date embedded.
func LDFlags(version, commit string, date time.Time) string {
	const bi = "github.com/rwproxy/rwproxy/internal/buildinfo"
	return strings.Join([]string{"-s", "-w", "-buildid=",
		"-X", bi + ".Version=" + version,
		"-X", bi + ".Commit=" + commit,
		"-X", bi + ".Date=" + date.UTC().Format(time.RFC3339),
	}, " ")
}

func (o Options) compile(goos, goarch, bin string) error {
	o.logf("go build %s/%s", goos, goarch)
	cmd := exec.Command(o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", LDFlags(o.Version, o.Commit, o.Date), "-o", bin, "./cmd/rwproxy")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-buildvcs=false")
	cmd.Stdout, cmd.Stderr = o.Log, os.Stderr
	if o.Log == nil {
		cmd.Stdout = io.Discard
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("release: go build %s/%s: %w", goos, goarch, err)
	}
	return nil
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "dist: "+format+"\n", args...)
	}
}

// PackagedConfig is configs/rwproxy.yaml with admin.datadir set to the
// package's state directory, /var/lib/rwproxy.
func PackagedConfig(root string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "configs", "rwproxy.yaml"))
	if err != nil {
		return nil, err
	}
	const from, to = "  datadir: ./rwproxy-data\n", "  datadir: /var/lib/rwproxy\n"
	if bytes.Count(b, []byte(from)) != 1 {
		return nil, fmt.Errorf("release: configs/rwproxy.yaml has no single line %q to point at /var/lib/rwproxy", strings.TrimSpace(from))
	}
	return bytes.Replace(b, []byte(from), []byte(to), 1), nil
}

// tarEntry is one file of a tarball.
type tarEntry struct {
	name string
	mode int64
	data []byte
}

// tarball writes rwproxy-<version>-<goos>-<goarch>.tar.gz: one top
// directory holding the binary, LICENSE, README.md, CHANGELOG.md, the
// example configuration and the systemd unit.
func (o Options) tarball(goos, goarch, bin string) (string, error) {
	base := "rwproxy-" + o.Version + "-" + goos + "-" + goarch
	o.logf("%s.tar.gz", base)
	src := []struct {
		path, name string
		mode       int64
	}{
		{bin, "rwproxy", 0o755},
		{filepath.Join(o.Root, "LICENSE"), "LICENSE", 0o644},
		{filepath.Join(o.Root, "README.md"), "README.md", 0o644},
		{filepath.Join(o.Root, "CHANGELOG.md"), "CHANGELOG.md", 0o644},
		{filepath.Join(o.Root, "configs", "rwproxy.yaml"), "rwproxy.yaml", 0o644},
		{filepath.Join(o.Root, "deploy", "systemd", "rwproxy.service"), "rwproxy.service", 0o644},
	}
	var entries []tarEntry
	for _, s := range src {
		b, err := os.ReadFile(s.path)
		if err != nil {
			return "", fmt.Errorf("release: %w", err)
		}
		entries = append(entries, tarEntry{name: base + "/" + s.name, mode: s.mode, data: b})
	}
	var buf bytes.Buffer
	if err := WriteTarGz(&buf, base+"/", entries, o.Date); err != nil {
		return "", err
	}
	name := base + ".tar.gz"
	return name, os.WriteFile(filepath.Join(o.Out, name), buf.Bytes(), 0o644)
}

// WriteTarGz writes a reproducible gzipped tar: a directory entry dir (if
// not empty), then the entries sorted by name, every one owned by 0:0 with
// mtime, and a gzip header without name or time.
func WriteTarGz(w io.Writer, dir string, entries []tarEntry, mtime time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.ModTime, zw.Name, zw.OS = time.Time{}, "", 255
	tw := tar.NewWriter(zw)
	hdr := func(name string, mode int64, size int64, typ byte) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Size: size, Typeflag: typ, ModTime: mtime.UTC().Truncate(time.Second),
			Uid: 0, Gid: 0, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	}
	if dir != "" {
		if err := tw.WriteHeader(hdr(dir, 0o755, 0, tar.TypeDir)); err != nil {
			return err
		}
	}
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b tarEntry) int { return strings.Compare(a.name, b.name) })
	for _, e := range entries {
		if err := tw.WriteHeader(hdr(e.name, e.mode, int64(len(e.data)), tar.TypeReg)); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return errors.Join(tw.Close(), zw.Close())
}

// deb writes rwproxy_<version>_<arch>.deb with nfpm.
func (o Options) deb(goarch, bin string) (string, error) {
	cfg, err := PackagedConfig(o.Root)
	if err != nil {
		return "", err
	}
	stage := filepath.Join(filepath.Dir(bin), "deb")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return "", err
	}
	cfgPath := filepath.Join(stage, "rwproxy.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o640); err != nil {
		return "", err
	}
	d := filepath.Join(o.Root, "deploy")
	mt := o.Date.UTC()
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mt}
	}
	info := &nfpm.Info{
		Name: "rwproxy", Arch: goarch, Platform: "linux", Version: o.Version,
		Section: "database", Priority: "optional",
		Maintainer:  "rwproxy maintainers <rwproxy@users.noreply.github.com>",
		Description: "MySQL read/write-splitting proxy\nrwproxy sends writes to the primary and reads to replicas, follows failovers,\nand shares its configuration across a gossip cluster of proxies.",
		Homepage:    "https://github.com/rwproxy/rwproxy", License: "Apache-2.0", MTime: mt,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: bin, Destination: "/usr/bin/rwproxy", FileInfo: fi(0o755)},
				// root:root 0640 here; postinst makes it root:rwproxy (the user
				// does not exist when dpkg unpacks).
				{Source: cfgPath, Destination: "/etc/rwproxy/rwproxy.yaml", Type: files.TypeConfig, FileInfo: fi(0o640)},
				{Source: filepath.Join(d, "systemd", "rwproxy.service"), Destination: "/lib/systemd/system/rwproxy.service", FileInfo: fi(0o644)},
				{Source: filepath.Join(d, "systemd", "rwproxy-sysusers.conf"), Destination: "/usr/lib/sysusers.d/rwproxy.conf", FileInfo: fi(0o644)},
				{Source: filepath.Join(o.Root, "LICENSE"), Destination: "/usr/share/doc/rwproxy/copyright", FileInfo: fi(0o644)},
				{Destination: "/var/lib/rwproxy", Type: files.TypeDir, FileInfo: fi(0o750)},
			},
			// /bin/kill for the unit's ExecReload
			Depends: []string{"procps"},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(d, "debian", "postinst"),
				PreRemove:   filepath.Join(d, "debian", "prerm"),
				PostRemove:  filepath.Join(d, "debian", "postrm"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("release: deb: %w", err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	name := pkg.ConventionalFileName(info)
	o.logf("%s", name)
	var buf bytes.Buffer
	if err := pkg.Package(info, &buf); err != nil {
		return "", fmt.Errorf("release: deb: %w", err)
	}
	return name, os.WriteFile(filepath.Join(o.Out, name), buf.Bytes(), 0o644)
}

// writeSums writes SHA256SUMS for every .tar.gz and .deb in dir.
func writeSums(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var lines []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".deb")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, hex.EncodeToString(sum[:])+"  "+n+"\n")
	}
	slices.Sort(lines)
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(strings.Join(lines, "")), 0o644)
}
