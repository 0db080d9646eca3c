package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestResolveLinkTimeValuesWin(t *testing.T) {
	in := resolve("v1.2.3", "abc123", "2026-12-06T00:00:00Z")
	if in.Version != "v1.2.3" || in.Commit != "abc123" || in.Date != "2026-12-06T00:00:00Z" {
		t.Fatalf("got %+v", in)
	}
	if in.GoVersion != runtime.Version() {
		t.Fatalf("go version %q", in.GoVersion)
	}
	if s := in.String(); !strings.Contains(s, "v1.2.3") || !strings.Contains(s, "abc123") {
		t.Fatalf("String() = %q", s)
	}
}

func TestResolvePlaceholders(t *testing.T) {
	in := resolve("", "", "")
	if in.Version == "" || in.Commit == "" {
		t.Fatalf("empty identity: %+v", in)
	}
}
