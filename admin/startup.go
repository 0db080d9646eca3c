package admin

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// Module sources reported by Startup.
const (
	SourceFile     = "file"
	SourceDatabase = "database"
)

// ModuleOrigin says where one shared module of the starting configuration
// came from and whether the file says something else.
type ModuleOrigin struct {
	Module string // e.g. "MYSQL SERVERS"
	Source string // SourceFile or SourceDatabase
	// FileDiffers: the file's module differs from the one in use (only
	// possible when Source is SourceDatabase).
	FileDiffers bool
	// Changes are the differences (table: row: what), for the log.
	Changes []string
}

// StartReport is what Startup decided, for the start log.
type StartReport struct {
	Modules []ModuleOrigin
	// Backup is where --initial moved the previous rwproxy.db ("" if none).
	Backup string
	// Seeded: rwproxy.db was written from the file (first start, --initial,
	// or config_source: file, where it is a cache).
	Seeded bool
}

// Startup returns the configuration to start with and where each shared
// module came from. fromFile is config.Load's result (file + environment).
//
//   - config_source: admin — Bootstrap: rwproxy.db's shared modules when it
//     has a saved configuration, else (or with initial) the file's, written
//     to rwproxy.db. Environment overrides are then applied on top.
//   - config_source: file — the file's configuration; rwproxy.db is
//     rewritten from it as a cache.
//
// Node-local keys always come from fromFile.
func Startup(datadir string, fromFile *config.Config, initial bool) (*config.Config, StartReport, error) {
	var rep StartReport
	if fromFile.FileIsAuthority() {
		var err error
		if initial {
			if rep.Backup, err = backupDisk(diskPathIn(datadir), nowFunc()); err != nil {
				return nil, rep, err
			}
		}
		cfg := fromFile.Clone()
		cfg.FillDefaults()
		if err := SaveConfig(datadir, cfg); err != nil {
			return nil, rep, err
		}
		rep.Seeded = true
		for _, m := range sharedModules() {
			rep.Modules = append(rep.Modules, ModuleOrigin{Module: m.name, Source: SourceFile})
		}
		return cfg, rep, nil
	}
	existed := diskHasConfig(datadir)
	cfg, backup, err := bootstrap(datadir, fromFile, initial)
	rep.Backup = backup
	if err != nil {
		return nil, rep, err
	}
	if _, err := config.ApplyEnv(cfg); err != nil {
		return nil, rep, err
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, rep, fmt.Errorf("the saved configuration with the environment overrides is invalid:\n%w", err)
	}
	rep.Seeded = !existed || initial
	rep.Modules = CompareModules(cfg, fromFile)
	for i := range rep.Modules {
		if rep.Seeded {
			rep.Modules[i].Source = SourceFile
		}
	}
	return cfg, rep, nil
}

// CompareModules says, for each shared module, whether the file's
// configuration differs from the one in use (Source is SourceDatabase).
func CompareModules(inUse, fromFile *config.Config) []ModuleOrigin {
	file := fromFile.Clone()
	file.FillDefaults()
	var out []ModuleOrigin
	for _, m := range sharedModules() {
		o := ModuleOrigin{Module: m.name, Source: SourceDatabase}
		for _, c := range diffModule(m, inUse, file) {
			o.Changes = append(o.Changes, c.table+": "+c.key+": "+c.what)
		}
		o.FileDiffers = len(o.Changes) > 0
		out = append(out, o)
	}
	return out
}

// Resolve returns the configuration the next start would use (for
// `rwproxy config dump`), without writing anything but a table upgrade:
// the file's with config_source: file or when datadir holds no saved
// configuration, else rwproxy.db's shared modules with the file's
// node-local keys, the environment on top.
func Resolve(datadir string, fromFile *config.Config) (*config.Config, error) {
	if fromFile.FileIsAuthority() || !diskHasConfig(datadir) {
		cfg := fromFile.Clone()
		cfg.FillDefaults()
		return cfg, nil
	}
	cfg, _, err := bootstrap(datadir, fromFile, false)
	if err != nil {
		return nil, err
	}
	if _, err := config.ApplyEnv(cfg); err != nil {
		return nil, err
	}
	cfg.FillDefaults()
	return cfg, nil
}

// sharedModules are the modules that config_source governs: every module
// but ADMIN VARIABLES (node-local).
func sharedModules() []*module {
	var out []*module
	for _, m := range modules {
		if m.prefix != prefixAdmin {
			out = append(out, m)
		}
	}
	return out
}

// isShared reports whether m is governed by config_source.
func (m *module) isShared() bool { return m.prefix != prefixAdmin }

// nowFunc is the clock of backup names (tests may replace it).
var nowFunc = time.Now

// diskPathIn is the DISK layer's file in datadir.
func diskPathIn(datadir string) string { return filepath.Join(datadir, DiskFile) }

// diskHasConfig reports whether datadir holds a non-empty rwproxy.db.
func diskHasConfig(datadir string) bool {
	fi, err := os.Stat(diskPathIn(datadir))
	return err == nil && fi.Size() > 0
}
