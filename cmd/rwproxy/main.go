// Command rwproxy is a MySQL read/write-splitting proxy.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // served only with --pprof
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/importproxysql"
	"github.com/rwproxy/rwproxy/internal/replay"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "import-proxysql" {
		os.Exit(importproxysql.Main(os.Args[2:], os.Stdout, os.Stderr, os.ReadFile))
	}
	if len(os.Args) > 1 && os.Args[1] == "upgrade" {
		os.Exit(upgradeMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "replay" {
		os.Exit(replay.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	cmd, o, err := parseArgs(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2)
	case cmd == "help":
		return
	case cmd == "version":
		printVersion(os.Stdout)
		return
	case cmd == "config dump":
		err = dumpConfig(o, os.Stdout)
	default:
		keepSysmonAwake() // returns only if already done (or not possible)
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rwproxy:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	// Signals are taken before any listener opens: a SIGTERM that arrives
	// while rwproxy starts must drain, not kill, sessions it already has.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR2)
	if o.pprof != "" && !o.pprofAny && !config.IsLoopbackListen(o.pprof) {
		return fmt.Errorf("--pprof %s is not a loopback address: use 127.0.0.1:PORT, or add --pprof-any-address", o.pprof)
	}
	file, err := loadConfig(o)
	if err != nil {
		return err
	}
	if o.level != "" {
		file.Log.Level = o.level
	}
	atom, lg, err := newLogger(file.Log)
	if err != nil {
		return err
	}
	defer func() { _ = lg.Sync() }()
	logStart(lg, o.config, file)
	tc := applyThreads(lg, file.Threads)
	threadsCtx, stopThreads := context.WithCancel(context.Background())
	defer stopThreads()
	runThreads(threadsCtx, lg, tc)
	if o.takeover != "" {
		return runTakeover(o, sig, atom, lg, threadsCollector(tc))
	}
	// Ports and TLS files first: nothing is opened unless all of them are
	// usable, and every problem is reported at once.
	if err := app.Preflight(file); err != nil {
		return err
	}
	cfg, rep, err := admin.Startup(file.Admin.Datadir, file, o.initial)
	if err != nil {
		return err
	}
	logSources(lg, cfg, rep)
	if o.pprof != "" {
		go func() { _ = http.ListenAndServe(o.pprof, nil) }() //nolint:gosec // opt-in debug listener
	}
	a, err := app.New(cfg, lg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.Store.HonorEnv()
	// Every service is up before clients are served (App.Start's order).
	up := newUpgrades(threadsCollector(tc))
	a.SetUpgradeStats(&up.stats)
	if err := a.Start(app.WithCluster(), app.WithAdmin(o.config), app.WithHTTP(app.HTTPOptions{Extra: up.collectors()})); err != nil {
		_ = a.Close()
		return err
	}
	up.open(a, o, lg)
	notifyReady(lg)
	return waitSignals(a, sig, o.config, atom, lg, up)
}

// waitSignals reloads on SIGHUP (and, with config_source: file, when the
// file changes) and drains on SIGTERM/SIGINT.
func waitSignals(a *app.App, sig <-chan os.Signal, path string, atom zap.AtomicLevel, lg *zap.Logger, up *upgrades) error {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	defer up.close()
	changed := make(chan struct{}, 1)
	if a.Store.Current().FileIsAuthority() {
		go watchFile(ctx, path, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}
	for {
		var s os.Signal
		select {
		case <-changed:
			lg.Info("configuration file changed: reloading", zap.String("file", path))
			reload(a, path, atom, lg)
			continue
		case <-up.upgraded:
			lg.Info("upgrade complete: the new process serves every session; exiting")
			return a.Close()
		case s = <-sig:
		}
		if s == syscall.SIGUSR2 {
			lg.Info("SIGUSR2: starting the new binary for a zero-downtime upgrade")
			up.spawn(lg)
			continue
		}
		if s == syscall.SIGHUP {
			lg.Info("SIGHUP: re-reading the configuration file", zap.String("file", path))
			reload(a, path, atom, lg)
			continue
		}
		lg.Info("shutting down", zap.String("signal", s.String()))
		ctx, cancel := context.WithTimeout(context.Background(), a.Store.Current().ShutdownTimeout)
		err := a.Shutdown(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			lg.Warn("shutdown timeout reached; remaining sessions closed")
			return nil
		}
		return err
	}
}
