package monitor

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// bkey identifies one backend of a snapshot.
type bkey struct {
	hg   int
	addr string
}

// why explains one backend of a snapshot: why the server is in that
// hostgroup, and why it has that state ("" for ONLINE).
type why struct {
	where, state string
}

// placed is a backend being built, with its server's configuration order.
type placed struct {
	b     topology.Backend
	order int
	why   why
}

// placer builds one snapshot; see place.
type placer struct {
	p    *plan
	prev *topology.Snapshot
	hs   map[string]*health
	out  []placed
	seen map[bkey]bool
}

// place decides where every configured server belongs and in which state,
// from the plan, the observed health of each server (missing: nothing
// observed yet) and the previous snapshot (nil at start), which only breaks
// ties between writers. It is pure: the same inputs give the same snapshot.
//
// Rules, in order:
//   - items in hostgroups no pair or group replication entry owns stay put;
//   - a member of a replication pair goes to the writer hostgroup when its
//     check_type variable is OFF and to the reader hostgroup when ON (not
//     both); until its read-only check succeeds it keeps its configured
//     hostgroups; of several writable servers one is kept (the previous
//     ONLINE writer, else the first healthy one in configuration order)
//     and the others are SHUNNED;
//   - a group replication member is placed by role, state and quorum (see
//     placeGR);
//   - the state is the configured OFFLINE_SOFT/OFFLINE_HARD, else SHUNNED
//     (failed pings, second writer, transactions behind), else
//     SHUNNED_REPLICATION_LAG (reader over its lag limit), else ONLINE.
func place(p *plan, prev *topology.Snapshot, hs map[string]*health) (*topology.Snapshot, map[bkey]why) {
	pl := &placer{p: p, prev: prev, hs: hs, seen: make(map[bkey]bool)}
	for _, sp := range p.servers {
		for _, e := range sp.plain {
			pl.add(sp, e, e.Hostgroup, e.MaxReplicationLag > 0, "configured hostgroup")
		}
	}
	for i := range p.pairs {
		pl.placePair(i)
	}
	for i := range p.grs {
		pl.placeGR(i)
	}
	slices.SortStableFunc(pl.out, func(a, b placed) int { return a.order - b.order })
	snap := &topology.Snapshot{Hostgroups: make(map[int][]topology.Backend)}
	whys := make(map[bkey]why, len(pl.out))
	for _, x := range pl.out {
		snap.Hostgroups[x.b.Hostgroup] = append(snap.Hostgroups[x.b.Hostgroup], x.b)
		whys[bkey{x.b.Hostgroup, x.b.Addr}] = x.why
	}
	return snap, whys
}

func (pl *placer) health(sp *serverPlan) *health {
	if h := pl.hs[sp.addr]; h != nil {
		return h
	}
	return newHealth()
}

// add places server sp in hostgroup hg with the attributes of item e;
// reader says whether it serves reads there under its lag limit. It
// returns the index of the backend in pl.out, or -1 for a duplicate.
func (pl *placer) add(sp *serverPlan, e config.Server, hg int, reader bool, where string) int {
	k := bkey{hg, sp.addr}
	if pl.seen[k] {
		return -1
	}
	pl.seen[k] = true
	h := pl.health(sp)
	b := topology.Backend{
		Hostgroup: hg, Addr: sp.addr, Weight: e.Weight, MaxConnections: e.MaxConnections,
		MaxReplicationLag: e.MaxReplicationLag, LagSeconds: h.lag,
	}
	b.ReadOnly, _ = h.anyReadOnly()
	if h.grMember != nil {
		b.ReadOnly = h.grMember.superReadOnly
	}
	limit := 0
	if reader {
		limit = sp.readerLimits[hg]
	}
	var reason string
	b.State, reason = stateOf(h, e, hg, limit, reader)
	if pl.p.set.decay && limit > 0 && b.State == topology.StateOnline {
		b.Weight = decayWeight(e.Weight, h.lag, limit)
	}
	pl.out = append(pl.out, placed{b: b, order: sp.order, why: why{where: where, state: reason}})
	return len(pl.out) - 1
}

// stateOf is a backend's state in hostgroup hg, and why, for the server's
// item e; limit is its lag limit there (0: none).
func stateOf(h *health, e config.Server, hg, limit int, reader bool) (topology.State, string) {
	switch {
	case e.Status == config.StatusOfflineHard || e.Status == config.StatusOfflineSoft:
		return topology.State(e.Status), "configured " + e.Status
	case h.pingShunned:
		return topology.StateShunned, fmt.Sprintf("%d consecutive failed pings: %s", h.pingFails, h.pingErr)
	case reader && h.txHyst.shunned && h.grMember != nil:
		return topology.StateShunned, fmt.Sprintf("group replication applier queue: %d transactions behind", h.grMember.txBehind)
	case limit > 0 && h.lagShunned(hg):
		return topology.StateShunnedLag, h.lagText(limit)
	case reader && e.MaxLatency > 0 && h.pingLatency > e.MaxLatency:
		// ProxySQL's mysql_servers.max_latency_ms, for reads only: a slow
		// writer is still the writer.
		return topology.StateShunned, fmt.Sprintf("ping %s above max_latency_ms %d",
			h.pingLatency.Round(time.Microsecond), e.MaxLatency.Milliseconds())
	}
	return topology.StateOnline, ""
}

// decayWeight scales weight down linearly with lag: weight × (1 − lag/max),
// at least 1 (and 1 when the lag is unknown or over the limit: the
// hysteresis, not the weight, takes the server out). Weight 0 stays 0.
func decayWeight(weight int, lag float64, limit int) int {
	if weight <= 0 {
		return weight
	}
	if lag < 0 || lag >= float64(limit) {
		return 1
	}
	return max(1, int(math.Round(float64(weight)*(1-lag/float64(limit)))))
}

// candidate is a server that may take a writer slot.
type candidate struct {
	sp    *serverPlan
	e     config.Server
	where string
}

// rankWriters orders writer candidates: healthy first (reachable and
// configured ONLINE), then those that were ONLINE in hostgroup hg of the
// previous snapshot, then configuration order.
func (pl *placer) rankWriters(cs []candidate, hg int) {
	rank := func(c candidate) int {
		r := 0
		if !pl.healthy(c) {
			r += 2
		}
		if !pl.wasOnline(hg, c.sp.addr) {
			r++
		}
		return r
	}
	slices.SortStableFunc(cs, func(a, b candidate) int { return rank(a) - rank(b) })
}

func (pl *placer) healthy(c candidate) bool {
	return !pl.health(c.sp).pingShunned && c.e.Status == config.StatusOnline
}

// wasOnline reports whether addr was an ONLINE backend of hg in the
// previous snapshot.
func (pl *placer) wasOnline(hg int, addr string) bool {
	if pl.prev == nil {
		return false
	}
	for _, b := range pl.prev.Hostgroups[hg] {
		if b.Addr == addr {
			return b.State == topology.StateOnline
		}
	}
	return false
}

// placePair places the members of replication pair i by read-only value.
func (pl *placer) placePair(i int) {
	rh := pl.p.pairs[i]
	w, r := rh.WriterHostgroup, rh.ReaderHostgroup
	v := rh.CheckType
	if v == "" {
		v = config.DefaultCheckType
	}
	var writers []candidate
	for _, sp := range pl.p.servers {
		if !slices.Contains(sp.pairs, i) {
			continue
		}
		ro, known := pl.health(sp).readOnly(v)
		switch {
		case !known:
			const where = "read-only check not answered yet: configured hostgroup"
			for _, e := range sp.entries {
				if e.Hostgroup == w {
					writers = append(writers, candidate{sp, e, where})
				} else if e.Hostgroup == r {
					pl.add(sp, e, r, true, where)
				}
			}
		case ro:
			pl.add(sp, sp.entryFor(r, w, r), r, true, v+"=ON")
		default:
			writers = append(writers, candidate{sp, sp.entryFor(w, w, r), v + "=OFF"})
		}
	}
	pl.rankWriters(writers, w)
	for k, c := range writers {
		at := pl.add(c.sp, c.e, w, false, c.where)
		if k == 0 || at < 0 || !pl.healthy(c) {
			continue
		}
		x := &pl.out[at]
		if x.b.State == topology.StateOnline {
			x.b.State = topology.StateShunned
			x.why.state = fmt.Sprintf("multiple writable servers in hostgroup %d: keeping %s", w, writers[0].sp.addr)
		}
	}
}

// placeGR places the members of group replication entry i:
//   - unreachable (ping-shunned), not a member, not ONLINE (RECOVERING,
//     UNREACHABLE, ERROR, OFFLINE), without quorum, or failing the check
//     monitor.shun_after_failures times → offline hostgroup;
//   - never answered yet → configured hostgroups;
//   - ONLINE PRIMARY with quorum → writer hostgroup, up to max_writers
//     (previous writers first), the rest → backup writer hostgroup;
//   - ONLINE SECONDARY with quorum → reader hostgroup;
//   - writer_is_also_reader 1: writers and backup writers also in the
//     reader hostgroup; 2: backup writers also, and the writers only when
//     the reader hostgroup has no other usable member.
func (pl *placer) placeGR(i int) {
	g := pl.p.grs[i]
	hgs := g.Hostgroups()
	writers, readers := pl.classifyGR(i)
	pl.rankWriters(writers, g.WriterHostgroup)
	var backups []candidate
	for k, c := range writers {
		if k < g.MaxWriters {
			pl.add(c.sp, c.e, g.WriterHostgroup, false, c.where)
		} else {
			backups = append(backups, c)
			pl.add(c.sp, c.sp.entryFor(g.BackupWriterHostgroup, hgs[:]...), g.BackupWriterHostgroup, false,
				fmt.Sprintf("%s beyond max_writers %d", c.where, g.MaxWriters))
		}
	}
	if len(writers) > g.MaxWriters {
		writers = writers[:g.MaxWriters]
	}
	for _, c := range readers {
		pl.add(c.sp, c.e, g.ReaderHostgroup, true, c.where)
	}
	asReader := func(cs []candidate, why string) {
		for _, c := range cs {
			pl.add(c.sp, c.sp.entryFor(g.ReaderHostgroup, hgs[:]...), g.ReaderHostgroup, true, why)
		}
	}
	switch g.WriterIsAlsoReader {
	case 1:
		asReader(writers, "writer_is_also_reader=1")
		asReader(backups, "writer_is_also_reader=1")
	case 2:
		asReader(backups, "writer_is_also_reader=2")
		if !pl.hasUsable(g.ReaderHostgroup) {
			asReader(writers, "writer_is_also_reader=2: no other usable reader")
		}
	}
}

// classifyGR places the members of group replication entry i that go to
// the offline hostgroup (or, not answered yet, stay as configured) and
// returns the writer and reader candidates, in configuration order.
func (pl *placer) classifyGR(i int) (writers, readers []candidate) {
	g := pl.p.grs[i]
	hgs := g.Hostgroups()
	for _, sp := range pl.p.servers {
		if !slices.Contains(sp.grs, i) {
			continue
		}
		h := pl.health(sp)
		offline := func(where string) {
			pl.add(sp, sp.entryFor(g.OfflineHostgroup, hgs[:]...), g.OfflineHostgroup, false, where)
		}
		m := h.grMember
		switch {
		case h.pingShunned:
			offline("unreachable")
		case h.grFails >= pl.p.set.shunAfter:
			offline("group replication check failing: " + h.grErr)
		case !h.grKnown:
			for _, e := range sp.entries {
				if slices.Contains(hgs[:], e.Hostgroup) {
					pl.add(sp, e, e.Hostgroup, e.Hostgroup == g.ReaderHostgroup,
						"group replication check not answered yet: configured hostgroup")
				}
			}
		case m == nil:
			offline("not a group replication member (no row for @@server_uuid)")
		case m.state != grOnline:
			offline("group replication member state " + m.state)
		case !m.quorum():
			offline(fmt.Sprintf("no quorum: %d of %d members ONLINE or RECOVERING", m.viable, m.total))
		case m.role == grPrimary:
			writers = append(writers, candidate{sp, sp.entryFor(g.WriterHostgroup, hgs[:]...), "group replication PRIMARY"})
		default:
			readers = append(readers, candidate{sp, sp.entryFor(g.ReaderHostgroup, hgs[:]...), "group replication " + m.role})
		}
	}
	return writers, readers
}

// hasUsable reports whether hostgroup hg has a usable backend so far.
func (pl *placer) hasUsable(hg int) bool {
	for i := range pl.out {
		if pl.out[i].b.Hostgroup == hg && pl.out[i].b.Usable() {
			return true
		}
	}
	return false
}
