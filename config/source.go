package config

import "strconv"

// Source says where a configuration change came from. It decides whether the
// Store publishes the change to the cluster: every source except
// SourceCluster is a local change and is published.
type Source int

const (
	// SourceFile is the configuration file, read at start or on reload.
	SourceFile Source = iota + 1
	// SourceAdmin is the admin interface (LOAD ... TO RUNTIME).
	SourceAdmin
	// SourceCluster is a configuration adopted from a cluster peer; it is
	// installed with Store.Adopt and never re-published.
	SourceCluster
	// SourceLocal is any other local change (tests, programmatic callers).
	SourceLocal
)

// String returns the source's lower-case name, e.g. "admin".
func (s Source) String() string {
	switch s {
	case SourceFile:
		return "file"
	case SourceAdmin:
		return "admin"
	case SourceCluster:
		return "cluster"
	case SourceLocal:
		return "local"
	}
	return "source(" + strconv.Itoa(int(s)) + ")"
}

// Local reports whether a change from s originates on this node and should
// therefore be published to the cluster.
func (s Source) Local() bool { return s != SourceCluster }
