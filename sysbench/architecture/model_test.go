package main

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestProjectReads(t *testing.T) {
	r := Costs{LB: 10, Proxy: 50, Primary: 1, Secondary: 100, Secondaries: 2}
	// 1 LB, 1 proxy, 2 secondaries, 2 cores each: secondaries 2·2e6/100 = 40000,
	// proxy 2e6/50 = 40000 (tie: LB first, then proxy wins by order), LB 2e6/10 = 200000.
	p := Project(r, Costs{}, 1, Shape{L: 1, P: 1, N: 2, Cores: 2})
	if !near(p.Capacity[roleSecondary], 40000) || !near(p.Capacity[roleProxy], 40000) || !near(p.Capacity[roleLB], 200000) {
		t.Fatalf("capacities %v", p.Capacity)
	}
	if _, ok := p.Capacity[rolePrimary]; ok {
		t.Fatalf("reads only: the primary has no per-query work, got %v", p.Capacity)
	}
	if p.Bottleneck != roleProxy || !near(p.QPS, 40000) {
		t.Fatalf("got %v %s", p.QPS, p.Bottleneck)
	}
	// One secondary: it is the bottleneck at 20000.
	p = Project(r, Costs{}, 1, Shape{L: 1, P: 1, N: 1, Cores: 2})
	if p.Bottleneck != roleSecondary || !near(p.QPS, 20000) {
		t.Fatalf("got %v %s", p.QPS, p.Bottleneck)
	}
	r.Proxy = 40 // 3 proxies: 150000 QPS; N secondaries: N·20000
	if n := FirstSecondaryBound(r, Shape{L: 1, P: 3, Cores: 2}, 20); n != 8 {
		t.Fatalf("with 3 proxies (150000 QPS) secondaries stop being the bottleneck at N=8, got %d", n)
	}
	if n := FirstSecondaryBound(r, Shape{L: 1, P: 3, Cores: 2}, 7); n != 0 {
		t.Fatalf("up to 7 secondaries they are the bottleneck, got %d", n)
	}
}

func TestProjectWritesAndMix(t *testing.T) {
	r := Costs{LB: 10, Proxy: 40, Secondary: 100, Secondaries: 2}
	w := Costs{LB: 10, Proxy: 60, Primary: 200, Secondary: 80, Secondaries: 2}
	// f = 0: everything on the primary: 2e6/200 = 10000; apply 40 µs/query per secondary.
	p := Project(r, w, 0, Shape{L: 1, P: 4, N: 8, Cores: 2})
	if p.Bottleneck != rolePrimary || !near(p.QPS, 10000) || !near(p.Capacity[roleSecondary], 2e6/40) {
		t.Fatalf("got %v %s %v", p.QPS, p.Bottleneck, p.Capacity)
	}
	// f = 0.5, N = 2: primary 2e6/100 = 20000; secondary 2e6/(25+20) = 44444; proxies 4·2e6/50.
	p = Project(r, w, 0.5, Shape{L: 1, P: 4, N: 2, Cores: 2})
	if p.Bottleneck != rolePrimary || !near(p.QPS, 20000) || !near(p.Capacity[roleSecondary], 2e6/45) {
		t.Fatalf("got %v %s %v", p.QPS, p.Bottleneck, p.Capacity)
	}
}

func TestCostsOf(t *testing.T) {
	var r Run
	r.Queries, r.QPS, r.Workload, r.Threads = 1000, 500, "oltp_read_only", 8
	r.Tiers = []TierCPU{{Role: roleLB, CPUSeconds: 0.01}, {Role: roleProxy, CPUSeconds: 0.02}, {Role: roleProxy, CPUSeconds: 0.03},
		{Role: rolePrimary, CPUSeconds: 0.001}, {Role: roleSecondary, CPUSeconds: 0.04}, {Role: roleSecondary, CPUSeconds: 0.06}}
	r.SysbenchCPUSeconds = 0.5
	c := CostsOf(r)
	want := Costs{Workload: "oltp_read_only", Threads: 8, QPS: 500, LB: 10, Proxy: 50, Primary: 1, Secondary: 100, Secondaries: 2}
	if !near(c.LB, want.LB) || !near(c.Proxy, want.Proxy) || !near(c.Primary, want.Primary) || !near(c.Secondary, want.Secondary) ||
		c.Secondaries != 2 || c.Workload != want.Workload || c.QPS != 500 {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if us := r.TierMicros(); !near(us["sysbench"], 500) {
		t.Fatalf("sysbench µs/query %v", us["sysbench"])
	}
}
