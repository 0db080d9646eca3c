// Command rwproxy is a MySQL read/write-splitting proxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // served only with --pprof
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/importproxysql"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "import-proxysql" {
		os.Exit(importproxysql.Main(os.Args[2:], os.Stdout, os.Stderr, os.ReadFile))
	}
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("rwproxy", version)
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rwproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("config", "configs/rwproxy.yaml", "configuration file (YAML)")
	level := flag.String("log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	pprofAddr := flag.String("pprof", "", "serve /debug/pprof/ on this address (e.g. 127.0.0.1:6060); off when empty "+
		"(http.pprof serves it on the HTTP listener instead)")
	initial := flag.Bool("initial", false, "start from the configuration file, not from the configuration saved in "+
		"admin.datadir (which is kept as rwproxy.db.bak and rewritten from the file)")
	flag.Parse()
	// Signals are taken before any listener opens: a SIGTERM that arrives
	// while rwproxy starts must drain, not kill, sessions it already has.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() //nolint:gosec // opt-in debug listener
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *level != "" {
		cfg.Log.Level = *level
	}
	// The admin interface's saved tables (servers, users, rules, variables)
	// win over the file's, as in ProxySQL; --initial starts from the file.
	if cfg, err = admin.Bootstrap(cfg.Admin.Datadir, cfg, *initial); err != nil {
		return err
	}
	atom, lg, err := newLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = lg.Sync() }()
	a, err := app.New(cfg, lg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.Start()
	if err := a.StartAdmin(*cfgPath); err != nil {
		_ = a.Close()
		return fmt.Errorf("admin interface: %w", err)
	}
	if err := a.StartHTTP(app.HTTPOptions{Cluster: a.ClusterView()}); err != nil {
		_ = a.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	if err := a.StartCluster(); err != nil {
		_ = a.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	return waitSignals(a, sig, *cfgPath, atom, lg)
}

// waitSignals reloads the file on SIGHUP and drains on SIGTERM/SIGINT.
func waitSignals(a *app.App, sig <-chan os.Signal, path string, atom zap.AtomicLevel, lg *zap.Logger) error {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	changed := make(chan struct{}, 1)
	go watchFile(ctx, path, func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	for {
		var s os.Signal
		select {
		case <-changed:
			lg.Info("configuration file changed: reloading", zap.String("file", path))
			reload(a, path, atom, lg)
			continue
		case s = <-sig:
		}
		if s == syscall.SIGHUP {
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

func reload(a *app.App, path string, atom zap.AtomicLevel, lg *zap.Logger) {
	cfg, err := config.Load(path)
	if err == nil {
		err = a.Store.Apply(context.Background(), cfg, config.SourceFile)
	}
	if err != nil {
		lg.Error("reload refused; the running configuration is kept", zap.Error(err))
		return
	}
	if l, err := zapcore.ParseLevel(cfg.Log.Level); err == nil {
		atom.SetLevel(l)
	}
}

// newLogger builds the root logger: console on a terminal, JSON otherwise.
func newLogger(c config.Log) (zap.AtomicLevel, *zap.Logger, error) {
	atom := zap.NewAtomicLevel()
	if c.Level != "" {
		l, err := zapcore.ParseLevel(c.Level)
		if err != nil {
			return atom, nil, fmt.Errorf("log level: %w", err)
		}
		atom.SetLevel(l)
	}
	format := c.Format
	if format == "" || format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "console"
		}
	}
	zc := zap.NewProductionConfig()
	if format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	}
	zc.Level = atom
	zc.Encoding = format
	lg, err := zc.Build()
	return atom, lg, err
}
