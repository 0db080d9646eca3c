package app

import (
	"github.com/rwproxy/rwproxy/balance"
	"github.com/rwproxy/rwproxy/session"
)

// BalanceStat is one server of one hostgroup as the balancer sees it (see
// balance.Stat), for the admin interface and /metrics.
type BalanceStat = balance.Stat

// BalanceStats returns what the balancers see of every server of every
// hostgroup, for the admin interface and /metrics.
func (a *App) BalanceStats() []BalanceStat { return a.picker.Stats() }

var _ session.Picker = (*balance.Picker)(nil)
