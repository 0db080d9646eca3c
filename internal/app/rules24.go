package app

import (
	"strings"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/metrics"
)

// ruleCounters are the stats_mysql_global rows of the query rules'
// actions, the mirror and the firewall.
func (a *App) ruleCounters() []admin.Counter {
	u := func(v uint64) int64 { return int64(v) }
	r := &a.Stats.Rules
	out := []admin.Counter{
		{Name: "Query_Rules_Rewrites", Value: u(r.Rewrites.Load())},
		{Name: "Query_Rules_OK_Msgs", Value: u(r.OKMsgs.Load())},
		{Name: "Query_Rules_Blocked", Value: u(r.Blocked.Load())},
	}
	if m := a.Mirror; m != nil {
		out = append(out,
			admin.Counter{Name: "Mirror_Queued", Value: u(m.Stats.Queued.Load())},
			admin.Counter{Name: "Mirror_Sent", Value: u(m.Stats.Sent.Load())},
			admin.Counter{Name: "Mirror_Failed", Value: u(m.Stats.Failed.Load())},
			admin.Counter{Name: "Mirror_Dropped", Value: u(m.Stats.Dropped.Load())})
	}
	var blocked, detected int64
	if rt := a.routing.Load(); rt != nil {
		us, _ := a.Firewall.Snapshot(rt.Firewall)
		for _, s := range us {
			blocked += u(s.Blocked)
			detected += u(s.Detected)
		}
	}
	return append(out, admin.Counter{Name: "Firewall_Blocked", Value: blocked},
		admin.Counter{Name: "Firewall_Detected", Value: detected})
}

// firewallSnapshot fills the firewall's stats tables.
func (a *App) firewallSnapshot(want admin.Want, st *admin.Stats) {
	rt := a.routing.Load()
	if want&admin.WantFirewall == 0 || rt == nil {
		return
	}
	us, ds := a.Firewall.Snapshot(rt.Firewall)
	for _, u := range us {
		st.FirewallUsers = append(st.FirewallUsers, admin.FirewallUserStat{User: u.User, Mode: u.Mode,
			Learning: u.Learning, Learned: u.Learned, Blocked: u.Blocked, Detected: u.Detected, Overflow: u.Dropped})
	}
	for _, d := range ds {
		st.FirewallDigests = append(st.FirewallDigests, admin.FirewallDigest{User: d.User, Digest: d.Digest,
			DigestText: d.DigestText, Learned: d.Learned})
	}
}

// rulesSample is the metrics' view of the same counters.
func (a *App) rulesSample() metrics.RulesSample {
	var out metrics.RulesSample
	for _, c := range a.ruleCounters() {
		if c.Value < 0 {
			continue
		}
		v := uint64(c.Value)
		switch c.Name {
		case "Query_Rules_Rewrites":
			out.Actions = append(out.Actions, metrics.Count{Name: "rewrite", Value: v})
		case "Query_Rules_OK_Msgs":
			out.Actions = append(out.Actions, metrics.Count{Name: "ok_msg", Value: v})
		case "Query_Rules_Blocked":
			out.Actions = append(out.Actions, metrics.Count{Name: "blocked", Value: v})
		case "Mirror_Queued", "Mirror_Sent", "Mirror_Failed", "Mirror_Dropped":
			out.Mirror = append(out.Mirror, metrics.Count{Name: strings.ToLower(c.Name[len("Mirror_"):]), Value: v})
		case "Firewall_Blocked", "Firewall_Detected":
			out.Firewall = append(out.Firewall, metrics.Count{Name: strings.ToLower(c.Name[len("Firewall_"):]), Value: v})
		}
	}
	return out
}
