package app

import "github.com/rwproxy/rwproxy/metrics"

// clusterView shows the gossip cluster to /metrics and the dashboard.
type clusterView struct{ a *App }

// ClusterView returns the cluster as the HTTP listener shows it, or nil
// when clustering is off.
func (a *App) ClusterView() metrics.ClusterView {
	if !a.Store.Current().Cluster.Enabled {
		return nil
	}
	return clusterView{a}
}

// Members implements metrics.ClusterView: each member with the highest
// module version it runs.
func (v clusterView) Members() []metrics.Member {
	n := v.a.Cluster()
	if n == nil {
		return nil
	}
	versions := map[string]uint64{}
	for _, m := range n.Modules() {
		versions[m.Node] = max(versions[m.Node], m.Version)
	}
	var out []metrics.Member
	for _, m := range n.Members() {
		out = append(out, metrics.Member{Name: m.Name, Addr: m.Addr, State: m.State,
			ConfigVersion: versions[m.Name], Self: m.Local})
	}
	return out
}

// RejectedRecords implements metrics.ClusterView.
func (v clusterView) RejectedRecords() uint64 {
	if n := v.a.Cluster(); n != nil {
		return n.RejectedVersions()
	}
	return 0
}
