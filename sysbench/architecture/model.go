package main

import "math"

// Costs are the CPU microseconds per query each tier spent in one
// measured run through the chain (all processes of a role summed).
type Costs struct {
	Workload    string  `json:"workload"`
	Threads     int     `json:"threads"`
	QPS         float64 `json:"qps"`
	LB          float64 `json:"lb_us"`
	Proxy       float64 `json:"proxy_us"`
	Primary     float64 `json:"primary_us"`
	Secondary   float64 `json:"secondaries_us"` // summed over the secondaries
	Secondaries int     `json:"secondaries"`    // how many there were
}

// CostsOf reads the costs of a run.
func CostsOf(r Run) Costs {
	us := r.TierMicros()
	n := 0
	for _, t := range r.Tiers {
		if t.Role == roleSecondary {
			n++
		}
	}
	return Costs{Workload: r.Workload, Threads: r.Threads, QPS: r.QPS, LB: us[roleLB], Proxy: us[roleProxy],
		Primary: us[rolePrimary], Secondary: us[roleSecondary], Secondaries: n}
}

// Shape is a deployment on separate machines of Cores cores each: L load
// balancers, P rwproxy nodes, one primary and N secondaries.
type Shape struct {
	L, P, N int
	Cores   float64
}

// Projection is the QPS a shape can serve: each tier's capacity, the
// smallest of them, and which tier that is.
type Projection struct {
	Shape      Shape              `json:"shape"`
	Capacity   map[string]float64 `json:"capacity"`
	QPS        float64            `json:"qps"`
	Bottleneck string             `json:"bottleneck"`
}

// Project is the model. A fraction f of the queries are reads outside
// transactions, which rwproxy spreads over the secondaries; the rest (writes,
// and every statement of a transaction) run on the primary, and every
// secondary applies the primary's changes. With per-query CPU costs in
// microseconds, reads (r, from a read-only run) and the rest (w, from a
// read/write run), the capacity of each tier in queries per second is
//
//	LB:          L·k·10⁶ / (f·r.LB + (1−f)·w.LB)
//	proxies:     P·k·10⁶ / (f·r.Proxy + (1−f)·w.Proxy)
//	primary:       k·10⁶ / ((1−f)·w.Primary)
//	secondary:     k·10⁶ / (f·r.Secondary/N + (1−f)·w.Secondary/w.Secondaries)
//
// (a read costs r.Secondary on whichever secondary serves it, N share them;
// each secondary applies every change, w.Secondary/w.Secondaries per
// query), and the projected QPS is the smallest. CPU is the only resource
// modelled: network, disk and lock contention are not.
func Project(r, w Costs, f float64, sh Shape) Projection {
	k := sh.Cores * 1e6
	p := Projection{Shape: sh, Capacity: map[string]float64{}}
	set := func(tier string, units int, perQuery float64) {
		if perQuery > 0 {
			p.Capacity[tier] = float64(units) * k / perQuery
		}
	}
	set(roleLB, sh.L, f*r.LB+(1-f)*w.LB)
	set(roleProxy, sh.P, f*r.Proxy+(1-f)*w.Proxy)
	set(rolePrimary, 1, (1-f)*w.Primary)
	apply := 0.0
	if w.Secondaries > 0 {
		apply = w.Secondary / float64(w.Secondaries)
	}
	if sh.N > 0 {
		set(roleSecondary, 1, f*r.Secondary/float64(sh.N)+(1-f)*apply)
	}
	p.QPS = math.Inf(1)
	for _, tier := range []string{roleLB, roleProxy, rolePrimary, roleSecondary} {
		if c, ok := p.Capacity[tier]; ok && c < p.QPS {
			p.QPS, p.Bottleneck = c, tier
		}
	}
	if math.IsInf(p.QPS, 1) {
		p.QPS = 0
	}
	return p
}

// FirstSecondaryBound is the number of secondaries from which adding more
// no longer raises the read-only QPS (f = 1): where the proxies or the load
// balancer become the bottleneck; 0 when the secondaries always are.
func FirstSecondaryBound(r Costs, sh Shape, maxN int) int {
	for n := 1; n <= maxN; n++ {
		sh.N = n
		if Project(r, Costs{}, 1, sh).Bottleneck != roleSecondary {
			return n
		}
	}
	return 0
}
