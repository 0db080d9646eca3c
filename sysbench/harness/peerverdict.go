package harness

import (
	"fmt"
	"slices"
)

// The issue #20 targets against ProxySQL: on these workloads, at 8 threads
// and more, rwproxy's QPS >= ProxySQL's and its CPU per query <= ProxySQL's;
// at 1 thread its p95 <= ProxySQL's; its memory per idle client and the
// backend connections it holds for mostly idle clients <= ProxySQL's.
var peerVerdictWorkloads = []string{"oltp_point_select", "oltp_read_only", "oltp_read_write"}

// PeerVerdicts checks rwproxy against the ProxySQL target, when the report
// has one (by kind); nil otherwise.
func PeerVerdicts(r *Report) []Verdict {
	psql := ""
	for _, t := range r.Targets {
		if t.Kind == ProxySQL {
			psql = t.Name
		}
	}
	if psql == "" {
		return nil
	}
	var out []Verdict
	for _, w := range r.Config.Workloads {
		if !slices.Contains(peerVerdictWorkloads, w) {
			continue
		}
		for _, t := range r.Config.Threads {
			if t == 1 || t >= 8 {
				out = append(out, peerCellVerdict(r.Cells, w, t, psql))
			}
		}
	}
	out = append(out, peerIdleVerdict(r, psql), peerMuxVerdict(r, psql))
	return out
}

func peerCellVerdict(cells []Cell, w string, t int, psql string) Verdict {
	v := Verdict{Name: fmt.Sprintf("vs ProxySQL: %s at %d threads", w, t), Detail: verdictNotMeasured,
		Goal: "rwproxy QPS >= ProxySQL's and CPU per query <= ProxySQL's"}
	if t == 1 {
		v.Goal = "rwproxy p95 <= ProxySQL's"
	}
	px, ok1 := FindCell(cells, w, t, RWProxy)
	pc, ok2 := FindCell(cells, w, t, psql)
	if !ok1 || !ok2 || !px.OK() || !pc.OK() {
		return v
	}
	if t == 1 {
		v.Measured, v.Met = true, px.P95Ms <= pc.P95Ms
		v.Value = fmt.Sprintf("p95 %.0f vs %.0f µs", px.P95Ms*1000, pc.P95Ms*1000)
		v.Detail = overUnder(v.Met, (px.P95Ms-pc.P95Ms)*1000, "µs")
		return v
	}
	if pc.QPS <= 0 || !px.HasCPU || !pc.HasCPU || pc.CPUMicros <= 0 {
		return v
	}
	q, c := px.QPS/pc.QPS, px.CPUMicros/pc.CPUMicros
	v.Measured, v.Met = true, q >= 1 && c <= 1
	v.Value = fmt.Sprintf("QPS %s vs %s (%.2f×), CPU %.1f vs %.1f µs/q (%.2f×)", thousands(px.QPS), thousands(pc.QPS), q,
		px.CPUMicros, pc.CPUMicros, c)
	if v.Met {
		v.Detail = "met"
	} else {
		v.Detail = fmt.Sprintf("missed: QPS %+.1f%%, CPU per query %+.1f µs", (q-1)*100, px.CPUMicros-pc.CPUMicros)
	}
	return v
}

func peerIdleVerdict(r *Report, psql string) Verdict {
	v := Verdict{Name: "vs ProxySQL: memory per idle client connection", Goal: "rwproxy <= ProxySQL", Detail: verdictNotMeasured}
	if r.Idle == nil || r.Idle.Conns-r.Idle.Failed <= 0 {
		return v
	}
	for _, p := range r.IdlePeers {
		if p.Target == psql && p.Conns-p.Failed > 0 {
			a, b := r.Idle.BytesPerConn(), p.BytesPerConn()
			v.Measured, v.Met = true, a <= b
			v.Value = fmt.Sprintf("%.1f vs %.1f KiB (%d clients)", a/1024, b/1024, r.Idle.Conns-r.Idle.Failed)
			v.Detail = overUnder(v.Met, (a-b)/1024, "KiB")
		}
	}
	return v
}

func peerMuxVerdict(r *Report, psql string) Verdict {
	v := Verdict{Name: "vs ProxySQL: backend connections for mostly idle clients", Goal: "rwproxy <= ProxySQL (peak)", Detail: verdictNotMeasured}
	if r.Mux == nil {
		return v
	}
	var px, pc *MuxProxy
	for i, p := range r.Mux.Proxies {
		switch p.Target {
		case RWProxy:
			px = &r.Mux.Proxies[i]
		case psql:
			pc = &r.Mux.Proxies[i]
		}
	}
	if px == nil || pc == nil {
		return v
	}
	v.Measured, v.Met = true, px.BackendPeak <= pc.BackendPeak
	v.Value = fmt.Sprintf("%d vs %d for %d clients", px.BackendPeak, pc.BackendPeak, r.Mux.Clients)
	v.Detail = overUnder(v.Met, float64(px.BackendPeak-pc.BackendPeak), "connections")
	return v
}
