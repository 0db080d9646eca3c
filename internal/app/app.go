// Package app wires rwproxy's packages into a running proxy: the config
// store, the backend pools, the client listener and its sessions. cmd/rwproxy
// and the tests both start proxies through it.
//
// Concurrency: New, Start and Close are called by one owner goroutine.
package app

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/balance"
	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/handover"
	"github.com/rwproxy/rwproxy/metrics"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/qcache"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
	"github.com/rwproxy/rwproxy/tracing"
	"github.com/rwproxy/rwproxy/web"
)

// App is one running proxy.
type App struct {
	Store *config.Store
	Pools *pool.Manager
	Stats *session.Stats
	// Sessions knows every live client session.
	Sessions *session.Registry
	deps     *session.Deps
	version  string
	listener *protocol.Listener
	lg       *zap.Logger
	topo     atomic.Pointer[topology.Snapshot]
	// applied is the configuration version the configuration loop has
	// applied in full (routing, pools, monitor, picker); waitApplied waits
	// on it.
	applied atomic.Uint64
	// Monitor watches the backends and places them in hostgroups.
	Monitor *monitor.Monitor
	mu      struct {
		sync.Mutex
		servers map[string]bool // configured ONLINE servers
		down    map[string]bool // servers the monitor shuns for failed checks
	}
	routing atomic.Pointer[session.Routing]
	picker  *balance.Picker
	// Cache is the shared classification cache.
	Cache *router.Cache
	// QueryCache is the query cache (query rules' cache_ttl).
	QueryCache *qcache.Cache
	// Digests aggregates per-digest statement statistics.
	Digests *session.Digests
	// Tracer traces statements (tracing.enabled); nil when off.
	Tracer *tracing.Tracer
	// Capture records client traffic while a TRAFFIC CAPTURE runs.
	Capture *capture.Capturer
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Firewall is the allow-list firewall's state; Mirror sends copies of
	// statements to mirror hostgroups (rules24.go).
	Firewall *session.Firewall
	Mirror   *session.Mirror

	// created is when New made the App (stats_mysql_global.ProxySQL_Uptime).
	created time.Time
	// sched runs the scheduler jobs.
	sched scheduler
	// appliedAt is when the running configuration was applied (a
	// time.Time; runtime_checksums_values.epoch).
	appliedAt atomic.Value

	// recorder records every request (latency histograms, error counts,
	// the slow query log); the sessions feed it, /metrics exports it.
	recorder *metrics.Recorder
	// The optional services (lifecycle.go). Each is nil until started and
	// swapped back to nil when stopped; atomic because one service's
	// handlers read another (an admin query reads the cluster node, an
	// HTTP scrape too) while a test may add a service to a running App.
	admin   atomic.Pointer[admin.Server]
	cluster atomic.Pointer[cluster.Node]
	http    atomic.Pointer[web.Server]
	// upgrades counts zero-downtime upgrades (handover.go); nil until
	// SetUpgradeStats.
	upgrades atomic.Pointer[handover.Stats]
}

// New builds a proxy for cfg (already validated) and opens its listener.
func New(cfg *config.Config, lg *zap.Logger) (*App, error) {
	a := &App{Store: config.NewStore(cfg, "local"), Stats: &session.Stats{}, Sessions: session.NewRegistry(), lg: lg,
		created: time.Now()}
	// One TLS decision for every connection to a backend: pools, monitor
	// and the version probe (tls.go).
	bt := &backendTLS{current: a.Store.Current}
	if _, err := bt.roots(cfg.TLS.BackendCA); err != nil {
		return nil, err // the proxy does not start half-secured
	}
	a.version = cfg.ServerVersion
	if a.version == "" {
		a.version = probeVersion(cfg, bt.forAddr, lg.Named("version"))
	}
	a.Pools = pool.NewManager(poolOptions(cfg), lg.Named("pool"))
	a.Pools.SetTLS(bt.forAddr)
	a.picker = balance.New()
	a.Monitor = monitor.New(cfg, lg)
	a.Monitor.SetTLS(bt.forAddr)
	a.Cache = router.NewCache(10000)
	a.Digests = session.NewDigests(10000)
	a.Firewall = session.NewFirewall()
	a.recorder = a.newRecorder()
	if err := a.applyConfig(cfg); err != nil {
		_ = a.Pools.Close()
		return nil, err
	}
	auth := protocol.NewAuth(a.lookupUser)
	auth.SetPluginMix(a.pluginMix)
	auth.SetLockout(func() (int, time.Duration) {
		l := a.Store.Current().Limits
		return l.MaxLoginFailures, l.LoginLockTime
	})
	srv, err := a.secure(cfg, auth) // tls.go: client TLS, hashed passwords
	if err != nil {
		_ = a.Pools.Close()
		return nil, err
	}
	deps := &session.Deps{
		Pools: a.Pools, Server: srv, Auth: auth, Logins: session.NewLoginLimiter(), PreLogin: session.NewPreLogin(),
		Errors: session.NewErrorStats(),
		Config: a.Store.Current, Picker: a.picker, Log: lg.Named("session"), Stats: a.Stats,
		Routing: a.routing.Load, Cache: a.Cache, Applied: session.NewApplied(), Digests: a.Digests,
		MaxPacket: maxPacket, HandshakeTimeout: 10 * time.Second, Registry: a.Sessions,
		Observer: a.Recorder(), LoginLog: session.NewLoginLogger(lg.Named("auth")),
		CheckNow: a.Monitor.CheckNow,
	}
	if cfg.Tracing.Enabled {
		if a.Tracer, err = tracing.New(cfg.Tracing); err != nil {
			_ = a.Pools.Close()
			return nil, err
		}
		deps.Tracer = a.Tracer // only when on: a nil *Tracer in the interface would not be nil
	}
	a.Capture = &capture.Capturer{}
	deps.Capture = a.Capture
	a.deps = deps
	a.Mirror = session.NewMirror(a.Pools, a.picker, lg.Named("mirror"))
	deps.Mirror = a.Mirror
	a.listener, err = protocol.Listen(cfg.Listen, cfg.MaxConnections, func(ctx context.Context, nc net.Conn) {
		session.Serve(ctx, nc, deps)
	}, lg.Named("listener"))
	if err != nil {
		a.Mirror.Close()
		_ = a.Pools.Close()
		return nil, err
	}
	return a, nil
}

// maxPacket is the largest client request accepted (max_allowed_packet).
const maxPacket = 256 << 20

// SetQueryHook installs a hook that sees every COM_QUERY (tests inject
// faults with it). Call it before Start.
func (a *App) SetQueryHook(fn func(query []byte)) { a.deps.QueryHook = fn }

// SetTracer makes the proxy trace statements with tr, in place of the
// tracer tracing.* configured (tests pass one over an in-memory exporter).
// Call it before Start.
func (a *App) SetTracer(tr *tracing.Tracer) { a.Tracer, a.deps.Tracer = tr, tr }

// ServerVersion is the version announced to clients.
func (a *App) ServerVersion() string { return a.version }

// Addr is the client listener's address.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Start brings the proxy up; opts add the optional services. The order
// (Close stops in the reverse one):
//
//  1. the configuration loop, the monitor with its snapshot loop and the
//     memory trimmer: from here a configuration change (a LOAD on the
//     admin port, a peer's change, a reload) is applied as it arrives;
//  2. the cluster node (WithCluster): peers' changes merge into the Store;
//  3. the admin interface (WithAdmin);
//  4. the HTTP listener (WithHTTP): /healthz, /readyz, /metrics, the
//     dashboard;
//  5. the client listener serves (New opened it, so a client that connected
//     earlier waits in the backlog until every service above is up).
//
// On error the services started so far keep running: the caller calls
// Close. Start is called once.
func (a *App) Start(opts ...Option) error {
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.startLoops(ctx)
	if err := a.startServices(o); err != nil {
		return err
	}
	a.wg.Go(func() {
		if err := a.listener.Serve(); err != nil {
			a.lg.Error("listener stopped", zap.Error(err))
		}
	})
	a.lg.Info("rwproxy listening", zap.String("listen", a.Addr()))
	return nil
}

// startLoops starts step 1 of Start: the monitor and the goroutines that
// apply its snapshots and the Store's configurations, and the memory
// trimmer. They run until ctx is cancelled (Close).
func (a *App) startLoops(ctx context.Context) {
	a.Monitor.Start()
	snaps, unsubSnaps := a.Monitor.Subscribe()
	a.wg.Go(func() {
		defer unsubSnaps()
		for {
			select {
			case <-ctx.Done():
				return
			case snap, ok := <-snaps:
				if !ok {
					return
				}
				a.applySnapshot(snap)
			}
		}
	})
	ch, unsub := a.Store.Subscribe()
	a.wg.Go(func() {
		defer unsub()
		for {
			select {
			case <-ctx.Done():
				return
			case v := <-ch:
				if err := a.applyConfig(v.Config); err != nil {
					a.applied.Store(v.Version) // refused: nobody waits for it
					a.lg.Error("configuration not applied", zap.Error(err))
					continue
				}
				a.listener.SetMaxConnections(v.Config.MaxConnections)
				a.applied.Store(v.Version)
				a.lg.Info("configuration applied", zap.Uint64("version", v.Version), zap.String("origin", v.Origin))
			}
		}
	})
	a.wg.Go(func() { a.trimMemory(ctx) })
}

// Shutdown drains: it stops accepting, ends idle sessions at once and the
// others at their next transaction boundary, waits up to ctx's deadline,
// then closes what is left.
func (a *App) Shutdown(ctx context.Context) error {
	_ = a.listener.StopAccepting()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(a.Store.Current().ShutdownTimeout)
	}
	a.Sessions.Drain(deadline)
	werr := a.listener.Wait(ctx)
	return errors.Join(werr, a.Close())
}

// Close stops everything at once, in the reverse order of Start: the
// client listener (its sessions end and their connections go back to the
// pools or are closed), the HTTP listener, the admin interface, a running
// traffic capture (its files completed), the cluster node, then the loops
// and the monitor, the scheduler, the tracer (its queued spans get a short
// chance to leave) and last the pools.
func (a *App) Close() error {
	err := a.listener.Close()
	herr := a.CloseHTTP()
	// After the admin interface: no TRAFFIC CAPTURE can start behind it.
	aerr := a.CloseAdmin()
	if a.Capture.Active() {
		_, _ = a.Capture.Stop()
	}
	cerr := a.CloseCluster()
	if a.cancel != nil {
		a.cancel()
	}
	merr := a.Monitor.Close()
	a.sched.stop()
	a.wg.Wait()
	var terr error
	if a.Tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		terr = a.Tracer.Close(ctx)
		cancel()
	}
	if a.Mirror != nil {
		a.Mirror.Close() // before the pools: its workers hold connections
	}
	return errors.Join(err, herr, aerr, cerr, merr, terr, a.Pools.Close())
}

func (a *App) lookupUser(name string) (string, string, bool) {
	for _, u := range a.Store.Current().Users {
		if u.Username == name && u.CanLogin() {
			return u.Password, u.AuthPlugin, true
		}
	}
	return "", "", false
}

// pluginMix counts the active users by frontend plugin (protocol.PluginMix).
func (a *App) pluginMix() (native, sha2 int) {
	for _, u := range a.Store.Current().Users {
		switch {
		case !u.IsActive():
		case u.AuthPlugin == config.AuthCachingSha2:
			sha2++
		default:
			native++
		}
	}
	return native, sha2
}

// applyConfig publishes c's routing rules to the sessions, its servers to
// the pools (servers that left or went offline are drained) and to the
// monitor, and the monitor's new snapshot to the picker.
func (a *App) applyConfig(c *config.Config) error {
	rules, err := router.CompileRules(c.QueryRules)
	if err != nil {
		return err
	}
	if old := a.routing.Load(); old != nil {
		rules.KeepHits(old.Rules)
	}
	rt := &session.Routing{Rules: rules, ReaderOf: make(map[int]int),
		FallbackError: c.ReaderFallback == config.ReaderFallbackError, FailoverBuffer: c.FailoverBuffer,
		QueryTimeout: c.QueryTimeout, Firewall: a.Firewall.Build(c.Firewall),
		Replay: session.ReplayConfig{On: c.ReplayEnabled(), MaxSize: c.TransactionReplayMaxSize,
			Attempts: c.TransactionReplayAttempts, Timeout: c.TransactionReplayTimeout,
			CommitCheck: c.CommitCheckTable(), Node: c.Cluster.NodeName}}
	a.applyQueryCache(c, rules, rt)
	for _, rh := range c.ReplicationHostgroups {
		rt.ReaderOf[rh.WriterHostgroup] = rh.ReaderHostgroup
	}
	for _, g := range c.GroupReplicationHostgroups {
		if g.IsActive() {
			rt.ReaderOf[g.WriterHostgroup] = g.ReaderHostgroup
		}
	}
	live := make(map[string]bool)
	for _, sv := range c.Servers {
		if sv.Status == config.StatusOnline {
			addr := topology.Addr(sv.Host, sv.Port)
			live[addr] = true
			a.Pools.SetServer(addr, sv.MaxConnections)
		}
	}
	a.mu.Lock()
	for addr := range a.mu.servers {
		if !live[addr] {
			a.Pools.Drain(addr)
		}
	}
	a.mu.servers = live
	a.mu.Unlock()
	a.routing.Store(rt)
	a.Monitor.Update(c)
	a.applySnapshot(a.Monitor.Snapshot())
	a.sched.apply(a.lg, c.Scheduler)
	a.appliedAt.Store(time.Now())
	return nil
}

// applySnapshot hands a topology snapshot to the picker. A server the
// monitor shuns for failed checks has its idle connections closed; when it
// is back they are allowed again.
func (a *App) applySnapshot(snap *topology.Snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.Store.Current()
	down := make(map[string]bool)
	for _, bs := range snap.Hostgroups {
		for _, b := range bs {
			if b.State == topology.StateShunned {
				down[b.Addr] = true
			}
		}
	}
	for addr := range down {
		if !a.mu.down[addr] {
			a.Pools.Drain(addr)
		}
	}
	for addr := range a.mu.down {
		if !down[addr] && a.mu.servers[addr] {
			a.Pools.SetServer(addr, serverMaxConns(c, addr))
		}
	}
	a.mu.down = down
	// The picker first: whoever sees the new snapshot in a.topo (the admin
	// tables, /api/status, Topology) knows statements are placed by it.
	a.picker.Update(c, snap, a.Pools)
	a.topo.Store(snap)
}

// Topology returns the snapshot statements are placed by: the monitor's
// latest once the App has applied it (Monitor.Snapshot may be a step
// ahead).
func (a *App) Topology() *topology.Snapshot { return a.topo.Load() }

func serverMaxConns(c *config.Config, addr string) int {
	for _, sv := range c.Servers {
		if topology.Addr(sv.Host, sv.Port) == addr {
			return sv.MaxConnections
		}
	}
	return 0
}

func poolOptions(c *config.Config) pool.Options {
	return pool.Options{
		ConnectTimeout: c.Pool.ConnectTimeout, IdleTimeout: c.Pool.IdleTimeout,
		MaxLifetime: c.Pool.MaxLifetime, PingAfter: c.Pool.PingAfter, WaitTimeout: c.Pool.WaitTimeout,
		MaxIdle: c.Pool.MaxIdle, MinIdle: c.Pool.MinIdle, ReuseWait: pool.DefaultReuseWait,
		// With tracing on, backends that accept query attributes get the
		// statement's traceparent (session/backendattrs.go).
		QueryAttributes: c.Tracing.Enabled,
	}
}
