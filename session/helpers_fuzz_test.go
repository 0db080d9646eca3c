package session

import (
	"runtime/debug"
	"testing"
)

// mustNotPanic runs fn and turns a panic into a failure of t with the
// stack, so that one crashing seed fails alone instead of aborting every
// other test of the package.
func mustNotPanic(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	fn()
}
