package repo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "sandbox")); err != nil {
		t.Fatalf("root %s has no scripts/sandbox: %v", root, err)
	}
	t.Chdir(t.TempDir())
	if dir, err := Root(); err == nil {
		t.Fatalf("found a root (%s) outside the repository", dir)
	}
}
