package handover

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is Stats at one moment; the old process sends it with done, so
// that the new one reports the upgrade that started it.
type Snapshot struct {
	HandedOver, Refused, Failed, Drained uint64
	Upgrades, Rollbacks                  uint64
	LastDuration                         time.Duration
	TxnsWithoutReplay                    uint64
	// TakenBack and LastPause: absent from an older binary's done.
	TakenBack uint64
	LastPause time.Duration
}

// Snapshot reads the counters.
func (s *Stats) Snapshot() Snapshot {
	return Snapshot{HandedOver: s.HandedOver.Load(), Refused: s.Refused.Load(), Failed: s.Failed.Load(),
		Drained: s.Drained.Load(), Upgrades: s.Upgrades.Load(), Rollbacks: s.Rollbacks.Load(),
		LastDuration: time.Duration(s.LastDuration.Load()), TxnsWithoutReplay: s.TxnsWithoutReplay.Load(),
		TakenBack: s.TakenBack.Load(), LastPause: time.Duration(s.LastPause.Load())}
}

// Inherit adds the previous process's counters (its done message) to s.
func (s *Stats) Inherit(p Snapshot) {
	s.HandedOver.Add(p.HandedOver)
	s.Refused.Add(p.Refused)
	s.Failed.Add(p.Failed)
	s.Drained.Add(p.Drained)
	s.Upgrades.Add(p.Upgrades)
	s.Rollbacks.Add(p.Rollbacks)
	s.LastDuration.Store(int64(p.LastDuration))
	s.TxnsWithoutReplay.Add(p.TxnsWithoutReplay)
	s.TakenBack.Add(p.TakenBack)
	s.LastPause.Store(int64(p.LastPause))
}

var (
	descSessions = prometheus.NewDesc("rwproxy_upgrade_sessions_total",
		"Client sessions in zero-downtime upgrades, by outcome: handed_over, refused (kept by the old process), "+
			"taken_back (received by a new process that died or was given up, served on by the old one), "+
			"failed (lost with a new process that died), drained (ended on the old process).", []string{"outcome"}, nil)
	descUpgrades = prometheus.NewDesc("rwproxy_upgrades_total",
		"Zero-downtime upgrades, by result: completed, rolled_back (the old process kept serving).", []string{"result"}, nil)
	descDuration = prometheus.NewDesc("rwproxy_upgrade_last_duration_seconds",
		"Duration of the last upgrade, from the new process's hello to done or rollback.", nil, nil)
	descPause = prometheus.NewDesc("rwproxy_upgrade_last_pause_seconds",
		"Longest wait of a client session in the last upgrade between leaving the old process and being served "+
			"by the new one (its client's pause).", nil, nil)
	descNoReplay = prometheus.NewDesc("rwproxy_upgrade_transactions_without_replay_total",
		"Open transactions handed over under transaction_replay: they go on without a replay record.", nil, nil)
)

// Collector exports s as Prometheus metrics (read at scrape time).
func (s *Stats) Collector() prometheus.Collector { return statsCollector{s} }

type statsCollector struct{ s *Stats }

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSessions
	ch <- descUpgrades
	ch <- descDuration
	ch <- descPause
	ch <- descNoReplay
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.s.Snapshot()
	for _, o := range []struct {
		name string
		v    uint64
	}{{"handed_over", p.HandedOver}, {"refused", p.Refused}, {"taken_back", p.TakenBack}, {"failed", p.Failed},
		{"drained", p.Drained}} {
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.CounterValue, float64(o.v), o.name)
	}
	ch <- prometheus.MustNewConstMetric(descUpgrades, prometheus.CounterValue, float64(p.Upgrades), "completed")
	ch <- prometheus.MustNewConstMetric(descUpgrades, prometheus.CounterValue, float64(p.Rollbacks), "rolled_back")
	ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, p.LastDuration.Seconds())
	ch <- prometheus.MustNewConstMetric(descPause, prometheus.GaugeValue, p.LastPause.Seconds())
	ch <- prometheus.MustNewConstMetric(descNoReplay, prometheus.CounterValue, float64(p.TxnsWithoutReplay))
}

// Counter is one named value (the admin's stats_mysql_global rows).
type Counter struct {
	Name  string
	Value int64
}

// Globals are the upgrade counters as stats_mysql_global rows.
func (p Snapshot) Globals() []Counter {
	return []Counter{
		{"Upgrade_Sessions_Handed_Over", int64(p.HandedOver)},
		{"Upgrade_Sessions_Refused", int64(p.Refused)},
		{"Upgrade_Sessions_Taken_Back", int64(p.TakenBack)},
		{"Upgrade_Sessions_Failed", int64(p.Failed)},
		{"Upgrade_Sessions_Drained", int64(p.Drained)},
		{"Upgrades_Completed", int64(p.Upgrades)},
		{"Upgrades_Rolled_Back", int64(p.Rollbacks)},
		{"Upgrade_Last_Duration_ms", p.LastDuration.Milliseconds()},
		{"Upgrade_Last_Pause_ms", p.LastPause.Milliseconds()},
		{"Upgrade_Transactions_Without_Replay", int64(p.TxnsWithoutReplay)},
	}
}
