// Package repo finds the rwproxy source tree, for the tests and the
// benchmark commands that run its scripts.
package repo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Root walks up from the working directory to the directory whose go.mod
// declares the rwproxy module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/rwproxy/rwproxy\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the rwproxy repository (no go.mod found)")
		}
		dir = parent
	}
}
