package cluster

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Module statuses (ModuleState.Status).
const (
	// StatusBootstrap: the node runs the module as it started (YAML file
	// or its own DISK layer), version 0; it never changed in the cluster.
	// Bootstrap content is never sent to other nodes.
	StatusBootstrap = "bootstrap"
	// StatusApplied: the node runs Version, made by Origin.
	StatusApplied = "applied"
	// StatusPending: a newer version was announced and is being fetched.
	StatusPending = "pending"
	// StatusRejected: a newer version failed validation on this node and
	// was refused (Reason says why); the node runs Version.
	StatusRejected = "rejected"
)

// ModuleState is one row of the per-node checksum table: the version of
// one shared module one node runs.
type ModuleState struct {
	// Node is the node the row describes: this node, or a live peer as
	// last heard (probe answers, announcements, push/pull).
	Node   string
	Module string // ModuleServers, ModuleUsers, ModuleQueryRules, ModuleVariables
	// Version is the module's Lamport version; 0 for bootstrap content.
	Version uint64
	// Origin is the node that made Version.
	Origin string
	// Checksum is the first 16 hex digits of the SHA-256 of the module's
	// canonical JSON: equal checksums mean equal content.
	Checksum string
	// AppliedAt is when Node installed Version (its start, for version 0);
	// zero when unknown.
	AppliedAt time.Time
	// Status is StatusBootstrap, StatusApplied, StatusPending or StatusRejected.
	Status string
	// Reason explains a pending or rejected status (this node's rows only).
	Reason string
}

// shortSumLen is how many hex digits of a checksum the tables show.
const shortSumLen = 16

func shortSum(s string) string { return s[:min(len(s), shortSumLen)] }

// row describes ms for the checksum table.
func (ms *modState) row(node string) ModuleState {
	r := ModuleState{Node: node, Module: ms.rec.Module, Version: ms.rec.Version, Origin: ms.rec.Origin,
		Checksum: shortSum(ms.rec.Checksum), AppliedAt: ms.appliedAt, Status: StatusApplied}
	if ms.rec.Version == 0 {
		r.Status = StatusBootstrap
	}
	if rj := ms.rejected; rj != nil {
		r.Status = StatusRejected
		r.Reason = fmt.Sprintf("version %d from %s (via %s) refused: %s", rj.rec.Version, rj.rec.Origin, rj.from, rj.reason)
	}
	if p := ms.pending; p != nil {
		r.Status = StatusPending
		r.Reason = fmt.Sprintf("version %d from %s announced; fetching it", p.Version, p.Origin)
	}
	return r
}

// Modules returns the per-node checksum table: this node's rows (one per
// module, with pending and rejected versions explained), then every live
// peer's rows as last heard (each peer's answer to this node's probes
// carries them, so they are at most a probe round old), sorted by node
// and module. A module whose checksum differs between nodes has not
// converged.
func (n *Node) Modules() []ModuleState {
	n.mu.Lock()
	out := slices.Clone(n.mu.modules)
	for name, m := range n.mu.members {
		if name != n.name && m.state == StateAlive {
			for _, r := range m.rows {
				out = append(out, r)
			}
		}
	}
	n.mu.Unlock()
	order := func(m string) int { return slices.Index(moduleNames[:], m) }
	slices.SortFunc(out, func(a, b ModuleState) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return order(a.Module) - order(b.Module)
	})
	return out
}

// initState sets up the module versions at start: the running
// configuration's modules at version 0, then cluster.json's versions.
// A saved version whose content equals the running module is kept as
// is; one that differs (the node started from a file or DISK layer that
// lacks changes adopted before the restart) is installed through the
// normal merge path, validated like any peer's.
func (n *Node) initState() {
	n.own.mods = make(map[string]*modState)
	running := encodeModules(n.store.Versioned().Config)
	now := time.Now()
	for _, m := range moduleNames {
		n.own.mods[m] = &modState{appliedAt: now, rec: Record{Module: m, Origin: n.name,
			Checksum: running[m].checksum, Payload: running[m].payload}}
	}
	saved := n.loadSaved()
	if saved != nil {
		n.own.clock = saved.Clock
		var restore []Record
		for _, sm := range saved.Modules {
			n.observe(sm.Version)
			if ms := n.own.mods[sm.Module]; sm.Checksum == ms.rec.Checksum {
				ms.rec, ms.appliedAt = sm.Record, sm.AppliedAt
				continue
			}
			restore = append(restore, sm.Record)
		}
		if len(restore) > 0 {
			n.merge(restore, StateFile)
		}
	}
	n.persist()
	n.publishView()
}

// loadSaved reads cluster.json. An unreadable file is set aside (renamed
// to cluster.json.bad) and the node starts as new: it then takes every
// module from its peers.
func (n *Node) loadSaved() *savedState {
	if n.statePath == "" {
		return nil
	}
	st, err := loadState(n.statePath)
	if err != nil {
		n.lg.Warn("cannot read the cluster state file; starting without it", zap.Error(err))
		_ = os.Rename(n.statePath, n.statePath+".bad")
		return nil
	}
	if st != nil && st.Node != n.name {
		n.lg.Info("the cluster state file was written under another node name", zap.String("file_node", st.Node))
	}
	return st
}

// persist writes cluster.json; a failure is logged (the node keeps
// running, but a restart would lose the versions it could not save).
func (n *Node) persist() {
	if n.statePath == "" {
		return
	}
	st := &savedState{Node: n.name, Clock: n.own.clock}
	for _, m := range moduleNames {
		if ms := n.own.mods[m]; ms.rec.Version > 0 {
			st.Modules = append(st.Modules, savedModule{Record: ms.rec, AppliedAt: ms.appliedAt})
		}
	}
	if err := saveState(n.statePath, st); err != nil {
		n.lg.Error("cannot write the cluster state file", zap.String("path", n.statePath), zap.Error(err))
	}
}

// publishView rebuilds what other goroutines read: the push/pull state,
// the probe-answer payload and this node's checksum rows.
func (n *Node) publishView() {
	var recs []Record
	rows := make([]ModuleState, 0, len(moduleNames))
	for _, m := range moduleNames {
		ms := n.own.mods[m]
		if ms.rec.Version > 0 {
			recs = append(recs, ms.rec)
		}
		rows = append(rows, ms.row(n.name))
	}
	ls := encodeMsg(msgRecords, records{From: n.name, Records: recs})
	n.localState.Store(&ls)
	ack := encodeRows(rows, ackLimit)
	n.ackPayload.Store(&ack)
	n.mu.Lock()
	n.mu.modules = rows
	n.mu.Unlock()
}
