package release

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ImageContext unpacks a release tarball into dir as the build context
// of deploy/container/Containerfile: the tarball's files, etc/passwd and
// etc/group naming the image's user (65532), and an empty data/ for
// /var/lib/rwproxy.
func ImageContext(tarGz, dir string) error {
	f, err := os.Open(tarGz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		_, rel, _ := strings.Cut(h.Name, "/") // drop the top directory
		if h.Typeflag != tar.TypeReg || rel == "" || strings.Contains(rel, "/") || strings.HasPrefix(rel, ".") {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, os.FileMode(h.Mode)&0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"etc", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nrwproxy:x:65532:65532:rwproxy:/var/lib/rwproxy:/sbin/nologin\n",
		"etc/group":  "root:x:0:\nrwproxy:x:65532:\n",
		"data/.keep": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ImageBuilder is the first of podman and buildah on PATH, or "".
func ImageBuilder() string {
	for _, b := range []string{"podman", "buildah"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	return ""
}

// BuildImage builds tag from the host platform's tarball in o.Out (Build
// with Tarballs first) with podman or buildah, without network access.
func BuildImage(o Options, builder, tag string, log io.Writer) error {
	ctx, err := os.MkdirTemp("", "rwproxy-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ctx)
	tarball := filepath.Join(o.Out, "rwproxy-"+o.Version+"-linux-"+runtime.GOARCH+".tar.gz")
	if err := ImageContext(tarball, ctx); err != nil {
		return fmt.Errorf("release: image context from %s: %w", tarball, err)
	}
	// HEALTHCHECK exists only in the Docker image format (OCI images drop it).
	args := []string{"build", "--format=docker", "--network=none", "--pull=never", "-f", filepath.Join(o.Root, "deploy", "container", "Containerfile"),
		"--build-arg", "VERSION=" + o.Version, "--build-arg", "REVISION=" + o.Commit,
		"--build-arg", "CREATED=" + o.Date.UTC().Format(time.RFC3339), "-t", tag, ctx}
	if filepath.Base(builder) == "buildah" {
		args = append([]string{"bud"}, args[1:]...)
	}
	cmd := exec.Command(builder, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("release: %s build: %w", filepath.Base(builder), err)
	}
	return nil
}
