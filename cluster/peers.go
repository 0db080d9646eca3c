package cluster

import (
	"encoding/json"
	"time"
)

// How peers' rows of the checksum table are learnt, without a message of
// their own (ProxySQL has every node poll every peer for them):
//   - every probe answer (memberlist's ack, sent to each member in turn
//     once per probe interval) carries the prober's target's rows, as
//     PingDelegate.AckPayload;
//   - an announcement from X says X runs that version (nodes announce
//     only what they run), and a fetch reply or push/pull state from X
//     lists the versions X runs.
// Memberlist's node metadata would have been the obvious carrier, but a
// metadata change is an alive message every member re-broadcasts: with 30
// nodes one configuration change cost about 1 MB of gossip and delayed
// the announcements queued behind it.

// ackLimit bounds the ack payload, which shares a UDP packet with the ack.
const ackLimit = 900

// wireRow is one module in an ack payload.
type wireRow struct {
	Module    string `json:"n"`
	Version   uint64 `json:"v"`
	Origin    string `json:"o,omitempty"`
	Checksum  string `json:"c"`
	AppliedAt int64  `json:"t,omitempty"` // Unix seconds
	Status    string `json:"s"`
}

// encodeRows encodes rows in at most limit bytes: long node names may
// force leaving out origins and times; nil if even that does not fit.
func encodeRows(rows []ModuleState, limit int) []byte {
	for _, full := range []bool{true, false} {
		wr := make([]wireRow, 0, len(rows))
		for _, r := range rows {
			w := wireRow{Module: r.Module, Version: r.Version, Checksum: r.Checksum, Status: r.Status}
			if full {
				w.Origin = r.Origin
				if !r.AppliedAt.IsZero() {
					w.AppliedAt = r.AppliedAt.Unix()
				}
			}
			wr = append(wr, w)
		}
		raw, err := json.Marshal(wr)
		if err == nil && len(raw) <= limit {
			return raw
		}
	}
	return nil
}

// decodeRows turns a peer's ack payload into its rows; an unreadable
// payload gives none.
func decodeRows(node string, raw []byte) []ModuleState {
	var wr []wireRow
	if len(raw) == 0 || json.Unmarshal(raw, &wr) != nil {
		return nil
	}
	out := make([]ModuleState, 0, len(wr))
	for _, w := range wr {
		if !knownModule(w.Module) {
			continue
		}
		r := ModuleState{Node: node, Module: w.Module, Version: w.Version, Origin: w.Origin,
			Checksum: w.Checksum, Status: w.Status}
		if w.AppliedAt != 0 {
			r.AppliedAt = time.Unix(w.AppliedAt, 0)
		}
		out = append(out, r)
	}
	return out
}

// observeRows records what a peer runs. A row replaces the known one
// unless it is an older version (observations arrive out of order);
// a complete row (from an ack: status and time) also replaces a bare one
// of the same version.
func (n *Node) observeRows(peer string, rows []ModuleState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.mu.members[peer]
	if m == nil || peer == n.name {
		return
	}
	if m.rows == nil {
		m.rows = make(map[string]ModuleState)
	}
	for _, r := range rows {
		old, ok := m.rows[r.Module]
		c := compareRows(r, old)
		if !ok || c > 0 || (c == 0 && !r.AppliedAt.IsZero()) {
			m.rows[r.Module] = r
		}
	}
}

func compareRows(a, b ModuleState) int {
	return compareRecords(Record{Version: a.Version, Origin: a.Origin, Checksum: a.Checksum},
		Record{Version: b.Version, Origin: b.Origin, Checksum: b.Checksum})
}

// observeRecords records that peer runs recs (announcements, fetch
// replies, push/pull state).
func (n *Node) observeRecords(peer string, recs []Record) {
	rows := make([]ModuleState, 0, len(recs))
	for _, r := range recs {
		if knownModule(r.Module) && r.Version > 0 {
			rows = append(rows, ModuleState{Node: peer, Module: r.Module, Version: r.Version, Origin: r.Origin,
				Checksum: shortSum(r.Checksum), Status: StatusApplied})
		}
	}
	n.observeRows(peer, rows)
}

// nodeMeta is a node's gossip metadata. It changes once, at a deliberate
// shutdown: Leaving lets peers record the node as left rather than failed
// (memberlist's leave event does not say which).
type nodeMeta struct {
	Leaving bool `json:"l,omitempty"`
}

// metaLeaving reports whether a node's metadata says it is leaving.
func metaLeaving(raw []byte) bool {
	var nm nodeMeta
	return len(raw) > 0 && json.Unmarshal(raw, &nm) == nil && nm.Leaving
}
