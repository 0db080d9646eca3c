package app

import (
	"context"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/inherit"
)

// StartCluster joins the gossip cluster when cluster.enabled is set: it
// starts a cluster node on cluster.bind, keeping its module versions in
// <admin.datadir>/cluster.json, and makes it the Store's publisher, so
// that a local change (LOAD ... TO RUNTIME, a file reload) reaches every
// node and the peers' changes are merged into this one's Store. It does
// nothing when the cluster is disabled or the node already runs. Start
// calls it for WithCluster; Close (or CloseCluster) stops it.
//
// A gossip port inherited from the process this one took over from
// (internal/inherit) is used instead of opening cluster.bind: the node
// continues the old one under its name (docs/operations.md).
func (a *App) StartCluster() error {
	cfg := a.Store.Current()
	if !cfg.Cluster.Enabled || a.cluster.Load() != nil {
		return nil
	}
	var sk *cluster.Sockets
	var g *inherit.Gossip
	if g = inherit.TakeGossip(cfg.Cluster.Bind); g != nil {
		var err error
		sk, err = cluster.SocketsFromFiles(g.TCP, g.UDP)
		_, _ = g.TCP.Close(), g.UDP.Close()
		if err != nil {
			return err
		}
	}
	return a.startCluster(sk, g)
}

// startCluster starts the node on sk (nil: cluster.bind) continuing the
// node g describes (nil: a fresh start).
func (a *App) startCluster(sk *cluster.Sockets, g *inherit.Gossip) error {
	cfg := a.Store.Current()
	cc := cfg.Cluster
	var rejoin []string
	if g != nil {
		rejoin = g.Peers
		if cc.NodeName == "" {
			cc.NodeName = g.Name
		}
	}
	n, err := cluster.New(cluster.Options{
		Cluster: cc,
		Sockets: sk,
		Rejoin:  rejoin,
		Datadir: cfg.Admin.Datadir,
		Store:   a.Store,
		// Adopted modules are written to the admin DISK layer, so a
		// restart runs them (cluster.save_to_disk).
		Saver: diskSaver{datadir: cfg.Admin.Datadir},
		Log:   a.lg,
	})
	if err != nil {
		if sk != nil {
			_, _ = sk.TCP.Close(), sk.UDP.Close()
		}
		return err
	}
	if !a.cluster.CompareAndSwap(nil, n) {
		return n.Close()
	}
	a.Store.SetPublisher(n)
	return nil
}

// Cluster returns the App's cluster node (for the admin's cluster_nodes
// and checksum tables: Node.Members, Node.Modules), nil when the cluster
// is disabled or not started.
func (a *App) Cluster() *cluster.Node { return a.cluster.Load() }

// CloseCluster leaves the cluster and stops the node (idempotent). Local
// changes made afterwards are no longer published.
func (a *App) CloseCluster() error {
	n := a.cluster.Swap(nil)
	if n == nil {
		return nil
	}
	a.Store.SetPublisher(nil)
	return n.Close()
}

// diskSaver writes adopted configurations to the admin interface's DISK
// layer (<datadir>/rwproxy.db). The whole configuration is written in one
// transaction: it holds the adopted modules and the node's own others.
type diskSaver struct{ datadir string }

// SaveModules implements cluster.Saver.
func (d diskSaver) SaveModules(_ context.Context, c *config.Config, _ []string) error {
	return admin.SaveConfig(d.datadir, c)
}
