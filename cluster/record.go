package cluster

import (
	"cmp"
	"encoding/json"
)

// Record is one version of one shared module: what is announced (without
// Payload), fetched, exchanged in push/pull and kept in cluster.json.
type Record struct {
	Module string `json:"module"`
	// Version is a Lamport counter: a node making a change stamps it with
	// one more than the highest version it has seen of any module, so a
	// change made after seeing another always orders after it. 0 marks a
	// node's bootstrap configuration, which is never sent and never wins.
	Version uint64 `json:"version"`
	// Origin is the node that made this version.
	Origin string `json:"origin"`
	// Checksum is the hex SHA-256 of Payload.
	Checksum string `json:"checksum"`
	// Payload is the module's canonical JSON.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Version bounds. A version is a Lamport counter that grows by one per
// local change, so a peer's version is never far above what this node has
// seen. One far above (2^64-1 from a faulty or hostile peer) would win
// every merge forever and make the next local change wrap the clock to 0,
// freezing the module cluster-wide (and, through cluster.json, across
// restarts). Such records are refused, logged and counted.
const (
	// maxVersionSkew is how far above this node's clock a version may be:
	// 2^40 changes, decades of one change per millisecond, so a new node
	// (clock 0) still joins any real cluster.
	maxVersionSkew = 1 << 40
	// maxVersion is the absolute ceiling: the clock never gets near a wrap
	// (2^62 leaves room for 2^63 more local changes).
	maxVersion = 1 << 62
)

// versionOK reports whether v may be adopted by a node whose clock is clock.
func versionOK(v, clock uint64) bool {
	return v <= maxVersion && v <= clock+maxVersionSkew
}

// compareRecords orders two versions of one module cluster-wide: by
// Version, then Origin, then Checksum. The checksum only decides if a node
// ever stamped two different contents with one (version, origin) - it lost
// its cluster.json and changed something before hearing from any peer -
// and still makes every node pick the same one.
func compareRecords(a, b Record) int {
	if c := cmp.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	return cmp.Compare(a.Checksum, b.Checksum)
}

// wins reports whether r should replace cur: r is a real version (not a
// bootstrap one) and orders after cur.
func wins(r, cur Record) bool { return r.Version > 0 && compareRecords(r, cur) > 0 }

// State is the set of shared module versions a node holds, by module.
type State map[string]Record

// Newer is the one merge rule, used by every path that brings a peer's
// records (announcements, fetch replies, push/pull, the state file at
// start): it returns the records of remote that win over s, at most one
// per module (the greatest), in module order. Unknown modules and records
// that fail their checksum are ignored. s is not modified.
//
// Applying the result to s (s.With) computes s ⊔ remote, the per-module
// maximum, which is idempotent, commutative and associative, so nodes
// converge whatever order and however often records reach them. A node
// may still refuse a winner that does not validate against its own
// configuration; it then keeps its version and reports the refusal.
func (s State) Newer(remote []Record) []Record {
	best := make(map[string]Record)
	for _, r := range remote {
		if !knownModule(r.Module) || checksum(r.Payload) != r.Checksum {
			continue
		}
		if b, ok := best[r.Module]; ok && !wins(r, b) {
			continue
		}
		if wins(r, s[r.Module]) {
			best[r.Module] = r
		}
	}
	var out []Record
	for _, m := range moduleNames {
		if r, ok := best[m]; ok {
			out = append(out, r)
		}
	}
	return out
}

// With returns a copy of s with recs installed over it.
func (s State) With(recs []Record) State {
	out := make(State, len(s)+len(recs))
	for m, r := range s {
		out[m] = r
	}
	for _, r := range recs {
		out[r.Module] = r
	}
	return out
}

// Merge returns s ⊔ remote: s with the records of remote that win over it.
func (s State) Merge(remote State) State {
	recs := make([]Record, 0, len(remote))
	for _, r := range remote {
		recs = append(recs, r)
	}
	return s.With(s.Newer(recs))
}
