package app

import (
	"runtime"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/session"
)

// Kill ends a client session (or only its running statement): KILL on
// the admin port.
func (r adminRuntime) Kill(id uint32, query bool) bool { return r.a.Sessions.Kill(id, query) }

// SetPaused stops or resumes taking client connections: PROXYSQL PAUSE
// and RESUME on the admin port.
func (r adminRuntime) SetPaused(p bool) { r.a.listener.SetPaused(p) }

var _ admin.Pauser = adminRuntime{}

// proxysqlSnapshot fills the parts of st that only ProxySQL's stats
// tables show (not in the read model): rule hits, backend errors, command
// counters and the memory figures.
func (a *App) proxysqlSnapshot(want admin.Want, st *admin.Stats) {
	if rt := a.routing.Load(); want&admin.WantRuleHits != 0 && rt != nil {
		for _, h := range rt.Rules.Hits() {
			st.RuleHits = append(st.RuleHits, admin.RuleHit{RuleID: h.RuleID, Hits: h.Hits})
		}
	}
	if want&admin.WantQueryCache != 0 {
		st.QueryCache = a.queryCacheRows()
	}
	if want&admin.WantErrors != 0 && a.deps != nil && a.deps.Errors != nil {
		errs, _ := a.deps.Errors.Snapshot()
		for _, e := range errs {
			st.Errors = append(st.Errors, admin.ErrorStat{Hostgroup: e.Hostgroup, Addr: e.Backend, User: e.User,
				Client: e.Client, Schema: e.Schema, Errno: e.Errno, Count: e.Count, FirstSeen: e.FirstSeen,
				LastSeen: e.LastSeen, LastError: e.LastError})
		}
	}
	if want&admin.WantCommands != 0 {
		for i, name := range session.CommandNames() {
			c := &a.Stats.Commands[i]
			cc := admin.CommandCount{Command: name, TotalTimeUs: c.TotalTimeUs.Load(), Count: c.Count.Load()}
			for j := range c.Buckets {
				cc.Buckets = append(cc.Buckets, c.Buckets[j].Load())
			}
			st.Commands = append(st.Commands, cc)
		}
	}
	if want&admin.WantFreeConns != 0 {
		for _, c := range a.Pools.IdleConns(admin.MaxFreeConns) {
			st.FreeConns = append(st.FreeConns, admin.FreeConn{Addr: c.Addr, User: c.User, Schema: c.Schema,
				ThreadID: c.ThreadID, Vars: c.Vars, Idle: c.Idle, Age: c.Age, Stmts: c.Stmts, ServerVersion: c.ServerVersion})
		}
	}
	if want&admin.WantMemory != 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		st.Memory = []admin.Counter{
			{Name: "go_heap_alloc_bytes", Value: int64(m.HeapAlloc)},
			{Name: "go_heap_inuse_bytes", Value: int64(m.HeapInuse)},
			{Name: "go_heap_sys_bytes", Value: int64(m.HeapSys)},
			{Name: "go_stack_inuse_bytes", Value: int64(m.StackInuse)},
			{Name: "go_sys_bytes", Value: int64(m.Sys)},
			{Name: "go_goroutines", Value: int64(runtime.NumGoroutine())},
		}
	}
}
