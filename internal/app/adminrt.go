package app

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/session"
)

// StartAdmin opens the admin interface on admin.listen, with its DISK
// layer in admin.datadir; configFile is the YAML file LOAD ... FROM CONFIG
// re-reads ("" disables that command). Start calls it for WithAdmin; a
// test may add the interface to a running App. A second call does
// nothing; Close stops it.
func (a *App) StartAdmin(configFile string) error {
	if a.admin.Load() != nil {
		return nil
	}
	// The admin port has its own instance of the client listener's login
	// limiter (limits.login_rate and login_burst, separate buckets).
	s, err := admin.New(admin.Options{Runtime: adminRuntime{a}, ConfigFile: configFile, Log: a.lg.Named("admin"),
		Logins: session.NewLoginLimiter()})
	if err != nil {
		return err
	}
	if !a.admin.CompareAndSwap(nil, s) {
		return s.Close()
	}
	s.Start()
	return nil
}

// AdminAddr is the admin listener's address, "" before StartAdmin.
func (a *App) AdminAddr() string {
	if s := a.admin.Load(); s != nil {
		return s.Addr()
	}
	return ""
}

// CloseAdmin stops the admin interface (idempotent).
func (a *App) CloseAdmin() error {
	if s := a.admin.Swap(nil); s != nil {
		return s.Close()
	}
	return nil
}

// adminRuntime is the running proxy as the admin interface sees it. It is
// a separate type so that App's own method set stays what it is.
type adminRuntime struct{ a *App }

var _ admin.Runtime = adminRuntime{}

// Config returns the running configuration.
func (r adminRuntime) Config() *config.Config { return r.a.Store.Current() }

// Apply validates c and swaps it in; the App's configuration loop applies
// it to the pools, picker, monitor and routing without touching client
// connections. Apply returns once that loop has applied it (bounded by
// applyWait), so that LOAD ... TO RUNTIME means "in effect".
func (r adminRuntime) Apply(ctx context.Context, c *config.Config) error {
	before := r.a.Store.Versioned().Version
	if err := r.a.Store.Apply(ctx, c, config.SourceAdmin); err != nil {
		return err
	}
	after := r.a.Store.Versioned().Version
	if after == before {
		return nil // nothing changed
	}
	r.a.waitApplied(ctx, after)
	return nil
}

// applyWait bounds how long Apply waits for the configuration loop.
const applyWait = 5 * time.Second

// waitApplied waits until the configuration loop has applied version v
// (or a later one) in full: routing, pools, the monitor's placement and the
// snapshot the picker and the runtime tables read.
func (a *App) waitApplied(ctx context.Context, v uint64) {
	ctx, cancel := context.WithTimeout(ctx, applyWait)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for a.applied.Load() < v {
		select {
		case <-ctx.Done():
			a.lg.Warn("admin: the new configuration is accepted but not applied yet", zap.Duration("waited", applyWait))
			return
		case <-tick.C:
		}
	}
}

// ResetDigests clears the statement digest statistics.
func (r adminRuntime) ResetDigests() {
	if r.a.Digests != nil {
		r.a.Digests.Reset()
	}
}

// Snapshot gathers the read model once and projects the parts want asks
// for (adminview.go); the parts only the admin shows are read here.
func (r adminRuntime) Snapshot(want admin.Want) admin.Stats {
	a := r.a
	st := adminStats(a.gather(adminGather(want)), want)
	if want&admin.WantLogs != 0 {
		st.Logs = monitorLogs(a.adminMonitor())
	}
	a.proxysqlSnapshot(want, &st)
	if want&admin.WantGlobal != 0 {
		st.Global = append(st.Global, a.ruleCounters()...)
		st.Global = append(st.Global, a.upgradeGlobals()...)
	}
	a.firewallSnapshot(want, &st)
	return st
}

// adminLogLimit is how many recent checks of each kind the monitor tables show.
const adminLogLimit = 1000

// monitorLogSource is what the admin reads of the monitor.
type monitorLogSource interface {
	Log(kind string, limit int) []monitor.LogEntry
}

// adminMonitor returns the App's monitor for the monitor.* tables.
func (a *App) adminMonitor() monitorLogSource {
	if a.Monitor == nil {
		return nil
	}
	return a.Monitor
}

// monitorLogs copies the monitor's recent checks of every kind.
func monitorLogs(m monitorLogSource) map[string][]admin.LogEntry {
	if m == nil {
		return nil
	}
	out := make(map[string][]admin.LogEntry)
	for kind, mk := range map[string]string{admin.LogPing: monitor.KindPing, admin.LogReadOnly: monitor.KindReadOnly,
		admin.LogReplicationLag: monitor.KindReplicationLag, admin.LogGroupReplication: monitor.KindGroupReplication,
		admin.LogConnect: monitor.KindConnect} {
		for _, e := range m.Log(mk, adminLogLimit) {
			out[kind] = append(out[kind], admin.LogEntry{Time: e.Time, Addr: e.Addr, Duration: e.Duration,
				Result: e.Result, Error: e.Error})
		}
	}
	return out
}

// RefreshAdminMemory rewrites the admin interface's MEMORY tables from the
// running configuration (config_source: file, after a file change), so
// that MEMORY, RUNTIME and the file agree. It does nothing before
// StartAdmin.
func (a *App) RefreshAdminMemory(ctx context.Context) error {
	if s := a.admin.Load(); s != nil {
		return s.RefreshMemory(ctx)
	}
	return nil
}
