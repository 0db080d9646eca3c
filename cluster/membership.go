package cluster

import (
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// Member states (Member.State).
const (
	// StateAlive: the member answers probes.
	StateAlive = "alive"
	// StateFailed: the member stopped answering; this node tries to
	// reconnect to it (a partition heals by itself).
	StateFailed = "failed"
	// StateLeft: the member shut down on purpose.
	StateLeft = "left"
)

// How long members that are gone stay in the table (and, for failed
// ones, are retried).
const (
	failedKeep = 24 * time.Hour
	leftKeep   = time.Hour
)

// Member is one row of the cluster_nodes table.
type Member struct {
	Name string
	// Addr is the member's gossip address, host:port.
	Addr  string
	State string // StateAlive, StateFailed or StateLeft
	// LastSeen is when this node last heard from the member (a probe
	// answer or a message); for this node itself, now.
	LastSeen time.Time
	// Local marks this node's own row.
	Local bool
}

// member is what the node tracks of one cluster member (under n.mu).
type member struct {
	ip       net.IP
	port     uint16
	rows     map[string]ModuleState // its checksum table rows, as last heard
	state    string
	leaving  bool // its metadata said it is shutting down on purpose
	lastSeen time.Time
	since    time.Time // last state change
}

// Members returns the cluster_nodes table, sorted by name.
func (n *Node) Members() []Member {
	now := time.Now()
	n.mu.Lock()
	out := make([]Member, 0, len(n.mu.members))
	for name, m := range n.mu.members {
		row := Member{Name: name, Addr: net.JoinHostPort(m.ip.String(), strconv.Itoa(int(m.port))),
			State: m.state, LastSeen: m.lastSeen, Local: name == n.name}
		if row.Local {
			row.LastSeen = now
		}
		out = append(out, row)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// onJoin records an alive member. Memberlist calls it with its node lock
// held: n.mu is a leaf lock (nothing calls memberlist while holding it).
func (n *Node) onJoin(node *memberlist.Node, joined bool) {
	now := time.Now()
	n.mu.Lock()
	m := n.mu.members[node.Name]
	if m == nil {
		m = &member{}
		n.mu.members[node.Name] = m
	}
	was := m.state
	m.ip, m.port = slices.Clone(node.Addr), node.Port
	m.state, m.leaving, m.lastSeen = StateAlive, metaLeaving(node.Meta), now
	if was != StateAlive {
		m.since = now
	}
	n.mu.Unlock()
	if joined && node.Name != n.name {
		n.lg.Info("cluster member joined", zap.String("member", node.Name), zap.String("addr", node.Address()),
			zap.String("was", was))
	}
}

// onLeave records a member that left or failed.
func (n *Node) onLeave(node *memberlist.Node) {
	n.mu.Lock()
	m := n.mu.members[node.Name]
	if m == nil {
		m = &member{ip: slices.Clone(node.Addr), port: node.Port}
		n.mu.members[node.Name] = m
	}
	m.state, m.since = StateFailed, time.Now()
	if m.leaving {
		m.state = StateLeft
	}
	state := m.state
	n.mu.Unlock()
	if node.Name == n.name {
		return
	}
	if state == StateLeft {
		n.lg.Info("cluster member left", zap.String("member", node.Name), zap.String("addr", node.Address()))
		return
	}
	n.lg.Warn("cluster member failed", zap.String("member", node.Name), zap.String("addr", node.Address()))
}

// touch notes that name was just heard from.
func (n *Node) touch(name string) {
	n.mu.Lock()
	if m := n.mu.members[name]; m != nil && m.state == StateAlive {
		m.lastSeen = time.Now()
	}
	n.mu.Unlock()
}

// send delivers msg to the member name over memberlist's reliable
// (TCP) channel, in the background. The owner goroutine calls it.
func (n *Node) send(name string, msg []byte) {
	n.mu.Lock()
	m := n.mu.members[name]
	var to *memberlist.Node
	if m != nil && m.state == StateAlive {
		to = &memberlist.Node{Name: name, Addr: m.ip, Port: m.port}
	}
	n.mu.Unlock()
	if to == nil {
		n.lg.Debug("cannot send to an unknown or dead member", zap.String("member", name))
		return
	}
	n.wg.Go(func() {
		if err := n.ml.SendReliable(to, msg); err != nil && n.ctx.Err() == nil {
			n.lg.Debug("send failed", zap.String("member", name), zap.Error(err))
		}
	})
}

// reconnectLoop joins the seeds at start and whenever this node is
// alone, and otherwise retries one failed member per interval, so that
// both sides of a healed partition find each other again (memberlist
// itself stops probing a member it declared dead).
func (n *Node) reconnectLoop() {
	t := time.NewTicker(n.reconnect)
	defer t.Stop()
	for {
		if n.numMembers() <= 1 {
			n.join(n.seeds, true)
		} else if addr := n.failedMember(); addr != "" {
			n.join([]string{addr}, false)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) join(addrs []string, seeds bool) {
	if seeds {
		addrs = n.resolveSeeds(addrs) // names resolved afresh each time (resolve.go)
	}
	addrs = slices.DeleteFunc(slices.Clone(addrs), func(a string) bool { return a == n.addr })
	if len(addrs) == 0 || n.ctx.Err() != nil {
		return
	}
	count, err := n.ml.Join(addrs)
	if err != nil {
		n.lg.Debug("join failed; will retry", zap.Strings("addrs", addrs), zap.Error(err))
		return
	}
	if seeds {
		n.lg.Info("joined the cluster", zap.Int("contacted", count), zap.Int("members", n.numMembers()))
	}
}

// failedMember returns the address of a random failed member to retry,
// and forgets members gone for too long.
func (n *Node) failedMember() string {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var failed []string
	for name, m := range n.mu.members {
		switch {
		case m.state == StateFailed && now.Sub(m.since) > failedKeep,
			m.state == StateLeft && now.Sub(m.since) > leftKeep:
			delete(n.mu.members, name)
		case m.state == StateFailed:
			failed = append(failed, net.JoinHostPort(m.ip.String(), strconv.Itoa(int(m.port))))
		}
	}
	if len(failed) == 0 {
		return ""
	}
	return failed[rand.IntN(len(failed))] //nolint:gosec // not security-sensitive
}

// delegate adapts the node to memberlist's callbacks. None of them
// blocks: messages are copied and handed to the owner goroutine.
type delegate struct{ n *Node }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// NodeMeta implements memberlist.Delegate: empty, except for the leaving
// flag set at Close.
func (d *delegate) NodeMeta(limit int) []byte {
	if m := d.n.meta.Load(); m != nil && len(*m) <= limit {
		return *m
	}
	return nil
}

// NotifyMsg implements memberlist.Delegate. buf is reused by memberlist
// once this returns, so it is copied.
func (d *delegate) NotifyMsg(buf []byte) { d.n.hand(buf) }

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.queue.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: every module this node runs
// a version of, with payloads (push/pull is memberlist's TCP exchange).
func (d *delegate) LocalState(bool) []byte {
	if p := d.n.localState.Load(); p != nil {
		return *p
	}
	return nil
}

// MergeRemoteState implements memberlist.Delegate: the peer's
// LocalState, merged by the owner goroutine like any other records.
func (d *delegate) MergeRemoteState(buf []byte, _ bool) { d.n.hand(buf) }

// NotifyJoin implements memberlist.EventDelegate.
func (d *delegate) NotifyJoin(node *memberlist.Node) { d.n.onJoin(node, true) }

// NotifyLeave implements memberlist.EventDelegate.
func (d *delegate) NotifyLeave(node *memberlist.Node) { d.n.onLeave(node) }

// NotifyUpdate implements memberlist.EventDelegate (new metadata).
func (d *delegate) NotifyUpdate(node *memberlist.Node) { d.n.onJoin(node, false) }

// AckPayload implements memberlist.PingDelegate: this node's checksum
// rows ride on every probe answer.
func (d *delegate) AckPayload() []byte {
	if p := d.n.ackPayload.Load(); p != nil {
		return *p
	}
	return nil
}

// NotifyPingComplete implements memberlist.PingDelegate: the member
// answered a probe, with its checksum rows.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, payload []byte) {
	d.n.touch(other.Name)
	d.n.observeRows(other.Name, decodeRows(other.Name, payload))
}

// hand copies buf to the owner goroutine's inbox without blocking; when
// the inbox is full the message is dropped (announcements are repeated
// and push/pull repairs whatever is lost).
func (n *Node) hand(buf []byte) {
	select {
	case n.inbox <- slices.Clone(buf):
	default:
		n.lg.Debug("inbox full; dropped a cluster message")
	}
}
