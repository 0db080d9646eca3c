// Package buildinfo says which rwproxy this is: the version, commit and build
// date set at link time by `make build` / `make dist`
// (-ldflags "-X github.com/rwproxy/rwproxy/internal/buildinfo.Version=..."),
// with the commit and date taken from the Go toolchain's VCS stamp when a
// plain `go build` or `go install` left them unset.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set at link time with -ldflags -X; empty when built without them.
var (
	Version = "" // e.g. v0.2.0 or v0.2.0-3-gabc1234 (git describe)
	Commit  = "" // full commit hash
	Date    = "" // commit or build date, RFC 3339, UTC
)

// Info is what a running rwproxy reports about itself.
type Info struct {
	Version   string // "0.0.0-dev" when unknown
	Commit    string // "unknown" when unknown; "-dirty" appended for a modified tree
	Date      string // "" when unknown
	GoVersion string
}

var (
	once sync.Once
	info Info
)

// Get returns the build's identity; the link-time values win, then the VCS
// stamp of runtime/debug.ReadBuildInfo, then placeholders.
func Get() Info {
	once.Do(func() { info = resolve(Version, Commit, Date) })
	return info
}

func resolve(version, commit, date string) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, at string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if in.Commit == "" && rev != "" {
			in.Commit = rev
			if dirty {
				in.Commit += "-dirty"
			}
		}
		if in.Date == "" {
			in.Date = at
		}
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
	}
	if in.Version == "" {
		in.Version = "0.0.0-dev"
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	return in
}

// String is the one-line form printed by `rwproxy version` and logged at start.
func (i Info) String() string {
	s := "rwproxy " + i.Version + " (commit " + i.Commit
	if i.Date != "" {
		s += ", built " + i.Date
	}
	return s + ", " + i.GoVersion + ")"
}
