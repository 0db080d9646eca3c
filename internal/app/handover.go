package app

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/handover"
	"github.com/rwproxy/rwproxy/internal/inherit"
	"github.com/rwproxy/rwproxy/session"
)

// The App's two sides of a zero-downtime upgrade (internal/handover): as
// the old process it is a handover.Source, as the new one a
// handover.Target.

// UpgradeSource is the App as the old side of an upgrade sees it.
func (a *App) UpgradeSource() handover.Source { return upgradeSource{a} }

// UpgradeTarget is the App as the new side of an upgrade sees it.
func (a *App) UpgradeTarget() handover.Target { return upgradeTarget{a} }

type upgradeSource struct{ a *App }

var _ handover.Source = upgradeSource{}

// Config is the running configuration (admin changes not saved to disk
// included) as YAML.
func (s upgradeSource) Config() ([]byte, error) { return config.MarshalYAML(s.a.Store.Current()) }

// Listeners are duplicates of the client, admin and HTTP listening
// sockets, under the addresses the configuration gives them (the new
// process opens the same addresses and gets these: internal/inherit).
func (s upgradeSource) Listeners() ([]handover.Listening, []*os.File, error) {
	c := s.a.Store.Current()
	var ls []handover.Listening
	var files []*os.File
	add := func(role, addr string, f *os.File, err error) error {
		if err != nil {
			return err
		}
		ls = append(ls, handover.Listening{Role: role, Addr: addr})
		files = append(files, f)
		return nil
	}
	f, err := s.a.listener.File()
	err = add("client", c.Listen, f, err)
	if v := s.a.admin.Load(); v != nil && err == nil {
		f, ferr := v.ListenerFile()
		err = add("admin", c.Admin.Listen, f, ferr)
	}
	if v := s.a.http.Load(); v != nil && err == nil {
		f, ferr := v.ListenerFile()
		err = add("http", c.HTTP.Listen, f, ferr)
	}
	if err != nil {
		for _, f := range files {
			_ = f.Close()
		}
		return nil, nil, err
	}
	return ls, files, nil
}

// StopAccepting closes the client listener, keeping a duplicate of its
// socket to accept again on if the upgrade fails. The admin and HTTP
// listeners stay open until the process exits (the new process accepts on
// them too meanwhile).
func (s upgradeSource) StopAccepting() (func() error, error) {
	f, err := s.a.listener.File()
	if err != nil {
		return nil, err
	}
	if err := s.a.listener.StopAccepting(); err != nil && !errors.Is(err, net.ErrClosed) {
		_ = f.Close()
		return nil, err
	}
	return func() error {
		ln, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			return err
		}
		s.a.wg.Go(func() { _ = s.a.listener.Resume(ln) })
		return nil
	}, nil
}

// Sessions knows the live sessions.
func (s upgradeSource) Sessions() *session.Registry { return s.a.Sessions }

var _ handover.StateSource = upgradeSource{}

// MonitorView is the monitor's observed state (the new monitor starts
// from it: no monitoring gap).
func (s upgradeSource) MonitorView() ([]byte, error) { return s.a.Monitor.ExportView() }

// DetachGossip stops the cluster node without leaving and returns its
// gossip port; nil when no node runs (or it has no port of its own).
func (s upgradeSource) DetachGossip() (*handover.Gossip, error) {
	n := s.a.cluster.Load()
	if n == nil {
		return nil, nil
	}
	d, err := n.Detach()
	if errors.Is(err, cluster.ErrNoSockets) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The node is stopped: it no longer publishes (a local change made
	// on this process from now on reaches the peers only if the upgrade
	// fails and the node resumes).
	if s.a.cluster.CompareAndSwap(n, nil) {
		s.a.Store.SetPublisher(nil)
	}
	return &handover.Gossip{Info: handover.GossipInfo{Addr: s.a.Store.Current().Cluster.Bind, Name: d.Name,
		Peers: d.Peers}, TCP: d.TCP, UDP: d.UDP}, nil
}

// ResumeGossip starts a node again on the detached port (the upgrade
// failed).
func (s upgradeSource) ResumeGossip(g *handover.Gossip) error {
	sk, err := cluster.SocketsFromFiles(g.TCP, g.UDP)
	if err != nil {
		return err
	}
	return s.a.startCluster(sk, &inherit.Gossip{Name: g.Info.Name, Peers: g.Info.Peers})
}

type upgradeTarget struct{ a *App }

var _ handover.Target = upgradeTarget{}

// Adopt rebuilds a handed-over session; serve runs it tracked by the
// client listener like an accepted connection.
func (t upgradeTarget) Adopt(nc, backend net.Conn, d *session.Durable) (func(), func(), error) {
	l := t.a.listener
	ad, err := session.Adopt(l.Context(), nc, backend, t.a.deps, d)
	if err != nil {
		return nil, nil, err
	}
	if ad.ReplayOff() {
		if st := t.a.upgrades.Load(); st != nil {
			st.TxnsWithoutReplay.Add(1)
		}
	}
	serve := func() {
		if !l.Adopt(nc, func(context.Context, net.Conn) { ad.Serve() }) {
			ad.Abandon()
		}
	}
	return serve, ad.Abandon, nil
}

// SetUpgradeStats makes the App count adopted transactions into s and
// show s in stats_mysql_global (the process's upgrade counters, owned by
// cmd/rwproxy).
func (a *App) SetUpgradeStats(s *handover.Stats) { a.upgrades.Store(s) }

// upgradeGlobals are the upgrade counters as stats_mysql_global rows
// (none before SetUpgradeStats).
func (a *App) upgradeGlobals() []admin.Counter {
	s := a.upgrades.Load()
	if s == nil {
		return nil
	}
	var out []admin.Counter
	for _, c := range s.Snapshot().Globals() {
		out = append(out, admin.Counter{Name: c.Name, Value: c.Value})
	}
	return out
}

// UpgradeSocket is where the upgrade socket of a proxy whose admin
// datadir is datadir lives.
func UpgradeSocket(datadir string) string { return filepath.Join(datadir, "rwproxy-upgrade.sock") }
