package main

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/buildinfo"
)

// logStart logs the build's identity and the environment overrides in
// effect (every one of them, secrets masked) before anything starts.
func logStart(lg *zap.Logger, path string, file *config.Config) {
	bi := buildinfo.Get()
	lg.Info("rwproxy starting", zap.String("version", bi.Version), zap.String("commit", bi.Commit),
		zap.String("build_date", bi.Date), zap.String("go_version", bi.GoVersion), zap.String("config_file", path),
		zap.String("config_source", file.ConfigSource), zap.Int("pid", os.Getpid()))
	in, unknown := config.EnvOverrides()
	for _, o := range in {
		lg.Info("environment override", zap.String("variable", o.Var), zap.String("key", o.Key),
			zap.String("value", o.Value), zap.Bool("node_local", config.IsNodeLocal(o.Key)))
	}
	for _, name := range unknown {
		lg.Warn("environment variable ignored: it names no configuration key", zap.String("variable", name))
	}
}

// logSources logs where each shared module came from and whether the file
// says something else, and where --initial put the previous database.
func logSources(lg *zap.Logger, cfg *config.Config, rep admin.StartReport) {
	if rep.Backup != "" {
		lg.Info("--initial: the previous rwproxy.db is kept", zap.String("backup", rep.Backup))
	}
	for _, m := range rep.Modules {
		fields := []zap.Field{zap.String("module", m.Module), zap.String("source", m.Source),
			zap.Bool("file_differs", m.FileDiffers), zap.String("config_source", cfg.ConfigSource)}
		if !m.FileDiffers {
			lg.Info("configuration module", fields...)
			continue
		}
		lg.Warn("configuration module: the file differs from rwproxy.db, which is in use (config_source: admin); "+
			"LOAD "+m.Module+" FROM CONFIG reads the file's", append(fields, zap.Strings("differences", limit(m.Changes, 10)))...)
	}
}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

// reload re-reads the file. With config_source: file it applies all of it
// (and refreshes rwproxy.db, the cache, and the admin MEMORY tables); with
// config_source: admin only its node-local keys, and it says which shared
// modules the file has different from the running ones.
func reload(a *app.App, path string, atom zap.AtomicLevel, lg *zap.Logger) {
	file, err := config.Load(path)
	if err != nil {
		lg.Error("reload refused; the running configuration is kept", zap.Error(err))
		return
	}
	cur := a.Store.Current()
	next := file
	if !cur.FileIsAuthority() {
		next = config.WithNodeLocal(cur, file)
	}
	if err := a.Store.Apply(context.Background(), next, config.SourceFile); err != nil {
		lg.Error("reload refused; the running configuration is kept", zap.Error(err))
		return
	}
	if l, err := zapcore.ParseLevel(next.Log.Level); err == nil {
		atom.SetLevel(l)
	}
	if cur.FileIsAuthority() {
		if err := admin.SaveConfig(cur.Admin.Datadir, a.Store.Current()); err != nil {
			lg.Warn("the configuration file is applied but rwproxy.db (its cache) was not rewritten", zap.Error(err))
		}
		if err := a.RefreshAdminMemory(context.Background()); err != nil {
			lg.Warn("the configuration file is applied but the admin MEMORY tables were not refreshed", zap.Error(err))
		}
		lg.Info("configuration file applied", zap.String("file", path))
		return
	}
	lg.Info("node-local settings re-read from the configuration file", zap.String("file", path))
	for _, m := range admin.CompareModules(a.Store.Current(), file) {
		if m.FileDiffers {
			lg.Info("the file differs from the running "+m.Module+" (config_source: admin: not applied; "+
				"LOAD "+m.Module+" FROM CONFIG, then LOAD "+m.Module+" TO RUNTIME applies it)",
				zap.Strings("differences", limit(m.Changes, 10)))
		}
	}
}

// newLogger builds the root logger: console on a terminal, JSON otherwise.
// Stack traces are for bugs only (DPanic and above): a backend that refuses
// connections or a bad configuration is not one.
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
	zc.DisableStacktrace = true
	lg, err := zc.Build(zap.AddStacktrace(zapcore.DPanicLevel),
		zap.WrapCore(func(c zapcore.Core) zapcore.Core { return plainErrors{c} }))
	return atom, lg, err
}
