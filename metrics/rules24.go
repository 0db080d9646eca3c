package metrics

import "github.com/prometheus/client_golang/prometheus"

// The query rules' actions, the mirror and the firewall (issue 24).
var (
	dRuleActions = desc("query_rule_actions_total", "Statements a query rule rewrote (rewrite), answered with OK_msg (ok_msg) or refused with error_msg (blocked).", []string{"action"})
	dMirror      = desc("mirror_copies_total", "Copies of statements for mirror hostgroups, by outcome: queued, sent, failed, dropped.", []string{"outcome"})
	dFirewall    = desc("firewall_statements_total", "Statements the firewall refused (blocked) or let run outside the allow-list in detect mode (detected).", []string{"outcome"})
)

// RulesSample holds the counters of the query rules' actions, the mirror
// and the firewall, each by label value.
type RulesSample struct {
	Actions  []Count `json:"actions"`
	Mirror   []Count `json:"mirror"`
	Firewall []Count `json:"firewall"`
}

func describeRules(ch chan<- *prometheus.Desc) {
	ch <- dRuleActions
	ch <- dMirror
	ch <- dFirewall
}

func collectRules(ch chan<- prometheus.Metric, r RulesSample) {
	for _, c := range r.Actions {
		ch <- counter(dRuleActions, float64(c.Value), c.Name)
	}
	for _, c := range r.Mirror {
		ch <- counter(dMirror, float64(c.Value), c.Name)
	}
	for _, c := range r.Firewall {
		ch <- counter(dFirewall, float64(c.Value), c.Name)
	}
}
