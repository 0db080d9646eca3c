// Command dist builds rwproxy's release artifacts into a directory:
// reproducible tarballs (-tarballs), Debian packages (-debs) and
// SHA256SUMS. The version, commit and date come from git unless given;
// SOURCE_DATE_EPOCH overrides the date. See CONTRIBUTING.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/release"
)

func main() {
	root := flag.String("root", "..", "rwproxy source tree")
	out := flag.String("out", "../dist", "output directory")
	version := flag.String("version", "", "version (default: git describe --tags, without the v)")
	platforms := flag.String("platforms", strings.Join(release.Platforms, ","), "GOOS/GOARCH list")
	tarballs := flag.Bool("tarballs", true, "build the tarballs")
	debs := flag.Bool("debs", true, "build the Debian packages")
	image := flag.String("image", "", "also build this container image tag from the host platform's tarball (podman or buildah)")
	flag.Parse()
	if err := run(*root, *out, *version, *platforms, *tarballs, *debs, *image); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(root, out, version, platforms string, tarballs, debs bool, image string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	v, commit, date, err := release.Describe(root)
	if err != nil {
		return err
	}
	if version != "" {
		v = strings.TrimPrefix(version, "v")
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	o := release.Options{Root: root, Out: out, Version: v, Commit: commit, Date: date,
		Platforms: strings.Split(platforms, ","), Tarballs: tarballs || image != "", Debs: debs, Go: goCmd(), Log: os.Stdout}
	arts, err := release.Build(o)
	if err != nil {
		return err
	}
	if image != "" {
		b := release.ImageBuilder()
		if b == "" {
			return fmt.Errorf("-image: neither podman nor buildah is installed")
		}
		if err := release.BuildImage(o, b, image, os.Stdout); err != nil {
			return err
		}
	}
	for _, a := range arts {
		fmt.Println(filepath.Join(out, a))
	}
	fmt.Println(filepath.Join(out, "SHA256SUMS"))
	return nil
}

// goCmd is $GO, else the go of this toolchain's GOROOT, else "go".
func goCmd() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}
