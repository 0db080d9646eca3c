package cluster

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
)

// errLocalChange aborts an adoption when the running configuration holds
// a local change of a module about to be replaced that has not been
// published yet: it is published first (and, being newer, usually wins).
var errLocalChange = errors.New("cluster: unpublished local change")

// fetchTimeout is how long an announced version may stay "pending" before
// another announcement may trigger a new fetch.
const fetchTimeout = 3 * time.Second

// modState is what the owner goroutine knows of one module.
type modState struct {
	rec       Record    // the version this node runs
	appliedAt time.Time // when it was installed (or the node started, for version 0)
	rejected  *rejection
	pending   *Record // newest announced version being fetched (no payload)
	pendingAt time.Time
}

// rejection is the newest version of a module this node refused, kept
// with its payload: it is tried again when another module changes
// (retryRefused).
type rejection struct {
	rec    Record
	from   string
	reason string
}

// ownerState is touched by the owner goroutine only (and by New before it
// starts).
type ownerState struct {
	clock      uint64 // highest version seen of any module
	mods       map[string]*modState
	warnedSkew map[string]bool // senders logged by boundedVersion
}

// state returns the versions this node runs.
func (o *ownerState) state() State {
	s := make(State, len(o.mods))
	for m, ms := range o.mods {
		s[m] = ms.rec
	}
	return s
}

// run is the owner goroutine: every change to the node's module state
// happens here, one event at a time.
func (n *Node) run() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// A change applied before the Store knew its publisher is not lost.
	n.reconcile()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.publishCh:
			n.reconcile()
		case buf := <-n.inbox:
			n.handle(buf)
		case <-tick.C:
			n.expirePending()
		}
	}
}

func (n *Node) handle(buf []byte) {
	_, body, err := decodeMsg(buf)
	if err != nil {
		n.lg.Debug("dropped a malformed message", zap.Error(err))
		return
	}
	switch b := body.(type) {
	case *announce:
		if !n.boundedVersion(b.record(), b.From) {
			return
		}
		n.onAnnounce(*b)
	case *fetch:
		n.onFetch(*b)
	case *records:
		recs := b.Records[:0:0]
		for _, r := range b.Records {
			if n.boundedVersion(r, b.From) {
				recs = append(recs, r)
			}
		}
		n.touch(b.From)
		n.observeRecords(b.From, recs)
		n.merge(recs, b.From)
	}
}

// boundedVersion reports whether r's version is within bounds of this
// node's clock (versionOK); a record that is not is refused: logged (once
// per sender) and counted, and it never moves the clock.
func (n *Node) boundedVersion(r Record, from string) bool {
	if versionOK(r.Version, n.own.clock) {
		return true
	}
	n.rejectedVersions.Add(1)
	if n.own.warnedSkew == nil {
		n.own.warnedSkew = make(map[string]bool)
	}
	if !n.own.warnedSkew[from] && len(n.own.warnedSkew) < maxWarnedSenders {
		n.own.warnedSkew[from] = true
		n.lg.Warn("refused a configuration record whose version is far above this node's clock (a faulty or hostile peer?); further ones from this sender are only counted",
			zap.String("module", r.Module), zap.Uint64("version", r.Version), zap.String("origin", r.Origin),
			zap.String("via", from), zap.Uint64("clock", n.own.clock), zap.Uint64("max_skew", maxVersionSkew))
	}
	return false
}

// maxWarnedSenders bounds the senders remembered for boundedVersion's log.
const maxWarnedSenders = 64

// RejectedVersions is how many records this node refused because their
// version was far above its clock (see versionOK).
func (n *Node) RejectedVersions() uint64 { return n.rejectedVersions.Load() }

// observe advances the Lamport clock past a version seen anywhere.
func (n *Node) observe(v uint64) { n.own.clock = max(n.own.clock, v) }

// onAnnounce fetches an announced version that would win over ours from
// the node that announced it (which holds it: nodes announce only what
// they run).
func (n *Node) onAnnounce(a announce) {
	n.touch(a.From)
	n.observeRecords(a.From, []Record{a.record()})
	n.observe(a.Version)
	ms := n.own.mods[a.Module]
	r := a.record()
	if ms == nil || !wins(r, ms.rec) {
		return
	}
	if ms.rejected != nil && compareRecords(r, ms.rejected.rec) <= 0 {
		return // refused already (the same content would be refused again)
	}
	if ms.pending != nil && compareRecords(r, *ms.pending) <= 0 && time.Since(ms.pendingAt) < fetchTimeout {
		return // a fetch of this version or a newer one is under way
	}
	ms.pending, ms.pendingAt = &r, time.Now()
	n.send(a.From, encodeMsg(msgFetch, fetch{From: n.name, Modules: []string{a.Module}}))
	n.publishView()
}

// onFetch answers a fetch with the versions this node runs.
func (n *Node) onFetch(f fetch) {
	n.touch(f.From)
	var out []Record
	for _, m := range f.Modules {
		if ms := n.own.mods[m]; ms != nil && ms.rec.Version > 0 {
			out = append(out, ms.rec)
		}
	}
	if len(out) > 0 {
		n.send(f.From, encodeMsg(msgRecords, records{From: n.name, Records: out}))
	}
}

// merge adopts the records of remote that win over this node's (State.Newer,
// the one merge rule). from names the node they came from.
func (n *Node) merge(remote []Record, from string) {
	for _, r := range remote {
		n.observe(r.Version)
	}
	for range 3 {
		winners := n.notRefused(n.own.state().Newer(remote))
		if len(winners) == 0 {
			return
		}
		if err := n.adopt(winners, from); !errors.Is(err, errLocalChange) {
			n.retryRefused()
			return
		}
		n.reconcile() // publish the local change, then decide again
	}
}

// notRefused drops the records this node has refused already.
func (n *Node) notRefused(recs []Record) []Record {
	out := recs[:0:0]
	for _, r := range recs {
		if rj := n.own.mods[r.Module].rejected; rj != nil && compareRecords(r, rj.rec) <= 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}

// adopt installs winners together; if together they do not validate, it
// tries each on its own so that one bad module does not hold back the
// others, and refuses the ones that still fail.
func (n *Node) adopt(winners []Record, from string) error {
	err := n.tryAdopt(winners, from)
	if err == nil || errors.Is(err, errLocalChange) || n.ctx.Err() != nil {
		return err
	}
	if len(winners) == 1 {
		n.reject(winners[0], from, err)
		return nil
	}
	for _, w := range winners {
		err := n.tryAdopt([]Record{w}, from)
		if errors.Is(err, errLocalChange) {
			return err
		}
		if err != nil && n.ctx.Err() == nil {
			n.reject(w, from, err)
		}
	}
	return nil
}

// tryAdopt builds this node's next configuration (its current one with
// the records' modules replaced), has the Store validate and install it
// without publishing, and records the new versions.
func (n *Node) tryAdopt(ws []Record, from string) error {
	_, changed, err := n.store.Merge(n.ctx, from, func(cur *config.Config) (*config.Config, error) {
		running := encodeModules(cur)
		for _, w := range ws {
			if running[w.Module].checksum != n.own.mods[w.Module].rec.Checksum {
				return nil, errLocalChange
			}
		}
		return withModules(cur, ws)
	})
	if err != nil {
		return err
	}
	now := time.Now()
	names := make([]string, 0, len(ws))
	for _, w := range ws {
		ms := n.own.mods[w.Module]
		ms.rec, ms.appliedAt = w, now
		if ms.rejected != nil && compareRecords(ms.rejected.rec, w) <= 0 {
			ms.rejected = nil
		}
		if ms.pending != nil && compareRecords(*ms.pending, w) <= 0 {
			ms.pending = nil
		}
		n.queueAnnounce(w.Module) // relay: spreading is epidemic, not origin-only
		names = append(names, w.Module)
		n.lg.Info("adopted a configuration module from the cluster", zap.String("module", w.Module),
			zap.Uint64("version", w.Version), zap.String("origin", w.Origin), zap.String("via", from),
			zap.Bool("config_changed", changed))
	}
	n.persist()
	n.publishView()
	n.saveToDisk(names)
	return nil
}

// retryRefused tries again the refused versions that still win over what
// this node runs, after another module changed. Modules are validated
// against the running configuration, so a version refused for lack of
// another module's change (a user whose default_hostgroup only a newer
// servers version fills; a server removed once no user names its
// hostgroup) is adopted once that change is. Versions that still fail
// stay refused, without a new log line.
func (n *Node) retryRefused() {
	for progress := true; progress && n.ctx.Err() == nil; {
		progress = false
		for _, name := range moduleNames {
			ms := n.own.mods[name]
			rj := ms.rejected
			if rj == nil || rj.rec.Payload == nil || !wins(rj.rec, ms.rec) {
				continue
			}
			err := n.tryAdopt([]Record{rj.rec}, rj.from)
			if err == nil {
				n.lg.Info("adopted a configuration module refused earlier, now that other modules changed",
					zap.String("module", name), zap.Uint64("version", rj.rec.Version))
				progress = true
			} else if errors.Is(err, errLocalChange) {
				return
			}
		}
	}
}

// reject records that w was refused and why; the running configuration
// is unchanged.
func (n *Node) reject(w Record, from string, err error) {
	ms := n.own.mods[w.Module]
	ms.rejected = &rejection{rec: w, from: from, reason: err.Error()}
	if ms.pending != nil && compareRecords(*ms.pending, w) <= 0 {
		ms.pending = nil
	}
	n.lg.Warn("refused a configuration module from the cluster; the running configuration is kept",
		zap.String("module", w.Module), zap.Uint64("version", w.Version), zap.String("origin", w.Origin),
		zap.String("via", from), zap.Error(err))
	n.publishView()
}

// reconcile publishes local changes: every module whose running content
// differs from the version this node holds was changed locally (only
// local Applies change the Store behind the owner's back). The changed
// modules get one new version, higher than any seen, and are announced.
func (n *Node) reconcile() {
	running := encodeModules(n.store.Versioned().Config)
	var changed []string
	for _, m := range moduleNames {
		if running[m].checksum != n.own.mods[m].rec.Checksum {
			changed = append(changed, m)
		}
	}
	if len(changed) == 0 {
		return
	}
	n.own.clock++
	now := time.Now()
	for _, m := range changed {
		ms := n.own.mods[m]
		ms.rec = Record{Module: m, Version: n.own.clock, Origin: n.name, Checksum: running[m].checksum,
			Payload: running[m].payload}
		ms.appliedAt, ms.rejected, ms.pending = now, nil, nil
		n.queueAnnounce(m)
	}
	n.lg.Info("publishing a local configuration change", zap.Strings("modules", changed),
		zap.Uint64("version", n.own.clock))
	n.persist()
	n.publishView()
}

// queueAnnounce broadcasts the version of m this node runs.
func (n *Node) queueAnnounce(m string) {
	r := n.own.mods[m].rec
	if r.Version == 0 {
		return
	}
	msg := encodeMsg(msgAnnounce, announce{Module: m, Version: r.Version, Origin: r.Origin, Checksum: r.Checksum, From: n.name})
	n.queue.QueueBroadcast(&broadcast{module: m, msg: msg})
}

// expirePending forgets fetches that got no answer, so that the next
// announcement (or push/pull) can bring the version.
func (n *Node) expirePending() {
	changed := false
	for _, ms := range n.own.mods {
		if ms.pending != nil && time.Since(ms.pendingAt) >= fetchTimeout {
			ms.pending, changed = nil, true
		}
	}
	if changed {
		n.publishView()
	}
}

// saveToDisk writes adopted modules to the DISK layer when
// cluster.save_to_disk is on (read from the running configuration, so
// that it can be switched without a restart).
func (n *Node) saveToDisk(modules []string) {
	cfg := n.store.Versioned().Config
	if !cfg.Cluster.SaveToDisk {
		return
	}
	if n.saver == nil {
		if !n.warnedSaver.Swap(true) {
			n.lg.Info("cluster.save_to_disk is on but no disk writer is wired; adopted modules are kept in " +
				StateFile + " only")
		}
		return
	}
	if err := n.saver.SaveModules(n.ctx, cfg, modules); err != nil && n.ctx.Err() == nil {
		n.lg.Warn("could not save adopted modules to disk", zap.Strings("modules", modules), zap.Error(err))
	}
}
