package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/handover"
	"github.com/rwproxy/rwproxy/internal/inherit"
)

// The zero-downtime upgrade (docs/operations.md): the running process
// listens on the upgrade socket; `rwproxy upgrade`, or SIGUSR2, makes it
// start the binary now at its path with --takeover, which takes the
// listening sockets, the configuration and the sessions over.

// upgradeMain is `rwproxy upgrade [--config F | --upgrade-socket P]`.
func upgradeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rwproxy upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "the running proxy's configuration file (for admin.datadir)")
	sock := fs.String("upgrade-socket", "", "the running proxy's upgrade socket (default: <admin.datadir>/rwproxy-upgrade.sock)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the outcome")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path := *sock
	if path == "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "rwproxy upgrade:", err)
			return 1
		}
		path = app.UpgradeSocket(c.Admin.Datadir)
	}
	if err := handover.RequestUpgrade(path, *timeout); err != nil {
		fmt.Fprintln(stderr, "rwproxy upgrade:", err)
		return 1
	}
	fmt.Fprintln(stdout, "upgrade complete: the new process serves every session")
	return 0
}

// startUpgrader opens the upgrade socket of the running proxy a.
func startUpgrader(a *app.App, o options, stats *handover.Stats, lg *zap.Logger) (*handover.Upgrader, error) {
	path := o.upgradeSocket
	if path == "" {
		path = app.UpgradeSocket(a.Store.Current().Admin.Datadir)
	}
	old := &handover.Old{Src: a.UpgradeSource(), Log: lg.Named("upgrade"), Stats: stats,
		DrainTimeout: a.Store.Current().ShutdownTimeout}
	if d, err := time.ParseDuration(os.Getenv(handover.CommitWaitEnv)); err == nil && d > 0 {
		old.CommitWait = d
	}
	u, err := handover.NewUpgrader(path, old, newArgv(o))
	if err != nil {
		return nil, fmt.Errorf("upgrade socket: %w", err)
	}
	go u.Run(context.Background())
	lg.Info("upgrade socket listening", zap.String("path", path))
	return u, nil
}

// exePath is the binary as started (looked up now: after an upgrade
// replaced the file, /proc/self/exe names the deleted old one).
var exePath = func() string {
	p, err := exec.LookPath(os.Args[0])
	if err != nil {
		return os.Args[0]
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}()

// newArgv is the new binary's command line: this one's flags, less
// --takeover and --initial (the configuration comes from this process).
func newArgv(o options) []string {
	argv := []string{exePath, "--config", o.config}
	if o.level != "" {
		argv = append(argv, "--log-level", o.level)
	}
	if o.upgradeSocket != "" {
		argv = append(argv, "--upgrade-socket", o.upgradeSocket)
	}
	return argv
}

// takeover is run() in --takeover mode: the proxy starts from the old
// process's running configuration, on its sockets, and receives its
// sessions. Until it reports ready, any failure leaves the old process
// serving (this one exits non-zero).
func takeover(o options, up *upgrades, lg *zap.Logger) (*app.App, *handover.Taken, error) {
	var a *app.App
	build := func(in handover.Inherited) (handover.Target, error) {
		cfg, err := loadYAML(in.Config)
		if err != nil {
			return nil, err
		}
		if a, err = app.New(cfg, lg); err != nil {
			return nil, err
		}
		a.Store.HonorEnv()
		a.SetUpgradeStats(&up.stats)
		restoreMonitor(a, in.Monitor, lg)
		opts := []app.Option{app.WithAdmin(o.config), app.WithHTTP(app.HTTPOptions{Extra: up.collectors()})}
		// With the old node's gossip port the node continues it now;
		// from an older binary it joins once the old process has left
		// (runTakeover).
		if inherit.HasGossip() {
			opts = append(opts, app.WithCluster())
		}
		if err := a.Start(opts...); err != nil {
			_ = a.Close()
			return nil, err
		}
		return a.UpgradeTarget(), nil
	}
	t, err := handover.Takeover(context.Background(), o.takeover, build,
		handover.NewOptions{Log: lg.Named("takeover"), FailAt: os.Getenv(handover.FailAtEnv),
			OnDone: func() { notifyMainPID(lg) }})
	if err != nil {
		if a != nil {
			_ = a.Close()
		}
		return nil, nil, err
	}
	return a, t, nil
}

// restoreMonitor starts the monitor from the old process's view (none
// from an older binary; one this binary cannot read is logged and the
// monitor starts afresh, which only costs a few checks).
func restoreMonitor(a *app.App, view []byte, lg *zap.Logger) {
	if len(view) == 0 {
		return
	}
	if err := a.Monitor.RestoreView(view); err != nil {
		lg.Warn("takeover: monitor view not restored: the monitor starts afresh", zap.Error(err))
	}
}

// loadYAML loads a configuration sent as YAML (through a private file:
// config.Load reads files, and the environment overrides apply as at any
// start).
func loadYAML(y []byte) (*config.Config, error) {
	f, err := os.CreateTemp("", "rwproxy-takeover-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(y)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return nil, err
	}
	return config.Load(f.Name())
}

// startClusterAfter joins the cluster once the old process has left its
// gossip port (it closes it as it exits after done).
func startClusterAfter(a *app.App, lg *zap.Logger) {
	var err error
	for i := 0; i < 50; i++ {
		if err = a.StartCluster(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond) // another process frees the port: nothing to wait on
	}
	lg.Error("cluster not started after the takeover", zap.Error(err))
}

// upgrades is this process's side of upgrades: its upgrade socket (once
// open) and the channel closed when an upgrade moved everything away.
type upgrades struct {
	stats    handover.Stats
	mu       sync.Mutex
	u        *handover.Upgrader
	upgraded chan struct{}
	extra    []prometheus.Collector
}

// newUpgrades: extra are the process's other collectors (the threads).
func newUpgrades(extra ...prometheus.Collector) *upgrades {
	return &upgrades{upgraded: make(chan struct{}), extra: extra}
}

// collectors export the upgrade counters and the extra ones on /metrics.
func (up *upgrades) collectors() []prometheus.Collector {
	return append([]prometheus.Collector{up.stats.Collector()}, up.extra...)
}

// open starts the upgrade socket; a failure is logged (the proxy serves
// without zero-downtime upgrades).
func (up *upgrades) open(a *app.App, o options, lg *zap.Logger) {
	u, err := startUpgrader(a, o, &up.stats, lg)
	if err != nil {
		lg.Warn("zero-downtime upgrade unavailable", zap.Error(err))
		return
	}
	up.mu.Lock()
	up.u = u
	up.mu.Unlock()
	go func() { <-u.Upgraded; close(up.upgraded) }()
}

// spawn is SIGUSR2: start the new binary and log the outcome.
func (up *upgrades) spawn(lg *zap.Logger) {
	up.mu.Lock()
	u := up.u
	up.mu.Unlock()
	if u == nil {
		lg.Warn("SIGUSR2: no upgrade socket: upgrade not possible")
		return
	}
	go func() {
		if err := u.Spawn(); err != nil {
			lg.Error("SIGUSR2: upgrade failed; this process keeps serving", zap.Error(err))
		}
	}()
}

func (up *upgrades) close() {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.u != nil {
		_ = up.u.Close()
	}
}

// runTakeover is run() with --takeover.
func runTakeover(o options, sig <-chan os.Signal, atom zap.AtomicLevel, lg *zap.Logger, extra ...prometheus.Collector) error {
	up := newUpgrades(extra...)
	a, t, err := takeover(o, up, lg)
	if err != nil {
		return err
	}
	go func() {
		<-t.Done()
		if t.Prev != nil {
			up.stats.Inherit(*t.Prev)
		}
		if t.Err() != nil {
			lg.Warn("takeover ended early", zap.Error(t.Err()))
		}
		up.open(a, o, lg)
		startClusterAfter(a, lg)
	}()
	return waitSignals(a, sig, o.config, atom, lg, up)
}
