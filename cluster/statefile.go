package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the file, in admin.datadir, that keeps a node's
// module versions across restarts. Without it a restarted node would start
// again at version 0 and could never tell that its peers moved on while it
// was away (ProxySQL Cluster's "restart resets the version" failure).
const StateFile = "cluster.json"

// stateFileVersion is the format of cluster.json.
const stateFileVersion = 1

// savedState is cluster.json.
type savedState struct {
	Format int    `json:"format"`
	Node   string `json:"node"`
	// Clock is the highest version this node has seen of any module.
	Clock   uint64        `json:"clock"`
	Modules []savedModule `json:"modules"`
}

// savedModule is one module's record and when this node installed it.
type savedModule struct {
	Record
	AppliedAt time.Time `json:"applied_at"`
}

// loadState reads path; a missing file is (nil, nil).
func loadState(path string) (*savedState, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // path is <admin.datadir>/cluster.json
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st savedState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Format != stateFileVersion {
		return nil, fmt.Errorf("%s: format %d, this rwproxy reads %d", path, st.Format, stateFileVersion)
	}
	if st.Clock > maxVersion {
		return nil, fmt.Errorf("%s: clock %d is beyond the ceiling %d", path, st.Clock, uint64(maxVersion))
	}
	for i := range st.Modules {
		m := &st.Modules[i]
		if m.Version > maxVersion {
			return nil, fmt.Errorf("%s: module %q: version %d is beyond the ceiling %d", path, m.Module, m.Version, uint64(maxVersion))
		}
		// The file is indented for people; payloads are checksummed
		// compact, as json.Marshal wrote them.
		var buf bytes.Buffer
		if err := json.Compact(&buf, m.Payload); err != nil {
			return nil, fmt.Errorf("%s: module %q: %w", path, m.Module, err)
		}
		m.Payload = buf.Bytes()
		if !knownModule(m.Module) || checksum(m.Payload) != m.Checksum {
			return nil, fmt.Errorf("%s: module %q: unknown or checksum mismatch", path, m.Module)
		}
	}
	return &st, nil
}

// saveState writes st to path atomically: a temporary file in the same
// directory, synced, then renamed over path, then the directory synced.
// A crash leaves the old file or the new one, never a torn one. The file
// holds passwords (users, monitor), so it is readable by the owner only.
func saveState(path string, st *savedState) error {
	st.Format = stateFileVersion
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, StateFile+".tmp*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // no-op after the rename
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir) //nolint:gosec // the datadir
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
