package admin

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/buildinfo"
)

// TestSaveConfigToFileLoadsBack: SAVE CONFIG TO FILE writes YAML that
// config.Load reads back to the running configuration.
func TestSaveConfigToFileLoadsBack(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	exec(t, e, "UPDATE mysql_servers SET weight=7 WHERE port=3308")
	exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME")
	path := filepath.Join(t.TempDir(), "saved.yaml")
	res := exec(t, e, "SAVE CONFIG TO FILE '"+path+"'")
	require.Contains(t, res.Info, path)
	back, err := config.Load(path)
	require.NoError(t, err)
	back.FillDefaults()
	require.Equal(t, rt.Config(), back)
	require.Contains(t, execErr(t, e, "SAVE CONFIG TO FILE", erSyntax), "quoted path")
}

// TestFileSourceRefusesSharedWrites: with config_source: file, LOAD ... TO
// RUNTIME and SAVE ... TO DISK of a shared module are refused naming the
// file; ADMIN VARIABLES (node-local) and reading stay allowed.
func TestFileSourceRefusesSharedWrites(t *testing.T) {
	cfg := testConfig()
	cfg.ConfigSource = config.ConfigSourceFile
	e, rt := newTestEngine(t, cfg)
	e.configFile = "/etc/rwproxy/rwproxy.yaml"
	exec(t, e, "UPDATE mysql_servers SET weight=7 WHERE port=3308")
	for _, q := range []string{"LOAD MYSQL SERVERS TO RUNTIME", "SAVE MYSQL SERVERS TO DISK", "LOAD MYSQL USERS TO RUNTIME",
		"LOAD MYSQL QUERY RULES TO RUNTIME", "LOAD MYSQL VARIABLES TO RUNTIME"} {
		msg := execErr(t, e, q, erUnknown)
		require.Contains(t, msg, "config_source is file, so /etc/rwproxy/rwproxy.yaml owns", q)
	}
	require.Equal(t, 1, rt.Config().Servers[2].Weight, "runtime unchanged")
	exec(t, e, "SAVE MYSQL SERVERS TO MEMORY")
	exec(t, e, "LOAD ADMIN VARIABLES TO RUNTIME")
}

// TestAdminVersion: @@admin-version is rwproxy's version alone (as
// ProxySQL answers it), @@version carries it too.
func TestAdminVersion(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	require.Equal(t, buildinfo.Get().Version, one(t, e, "SELECT @@admin-version"))
	require.True(t, strings.Contains(one(t, e, "SELECT @@version").(string), buildinfo.Get().Version))
}

// TestStartupReportsSources: the first start seeds rwproxy.db from the
// file; the next one takes the shared modules from the database and says
// which modules the file has different; --initial twice keeps two backups.
func TestStartupReportsSources(t *testing.T) {
	dir := t.TempDir()
	file := testConfig()
	file.Admin.Datadir = dir
	cfg, rep, err := Startup(dir, file, false)
	require.NoError(t, err)
	require.True(t, rep.Seeded)
	require.Equal(t, SourceFile, rep.Modules[0].Source)
	require.Equal(t, file.Servers, cfg.Servers)

	edited := file.Clone()
	edited.Servers[2].Weight = 9
	edited.Admin.Password = "rotated"
	cfg, rep, err = Startup(dir, edited, false)
	require.NoError(t, err)
	require.False(t, rep.Seeded)
	require.Equal(t, 1, cfg.Servers[2].Weight, "the database owns the servers")
	require.Equal(t, "rotated", cfg.Admin.Password, "admin.* comes from the file")
	byName := map[string]ModuleOrigin{}
	for _, m := range rep.Modules {
		byName[m.Module] = m
	}
	require.Equal(t, SourceDatabase, byName["MYSQL SERVERS"].Source)
	require.True(t, byName["MYSQL SERVERS"].FileDiffers)
	require.False(t, byName["MYSQL USERS"].FileDiffers)

	var backups []string
	for range 2 {
		_, rep, err = Startup(dir, edited, true)
		require.NoError(t, err)
		require.NotEmpty(t, rep.Backup)
		backups = append(backups, rep.Backup)
	}
	require.NotEqual(t, backups[0], backups[1])
	for _, b := range backups {
		require.FileExists(t, b)
	}
}

// TestStartupEnvWinsOverDatabase: an environment override of a shared key
// applies on top of rwproxy.db.
func TestStartupEnvWinsOverDatabase(t *testing.T) {
	dir := t.TempDir()
	file := testConfig()
	file.Admin.Datadir = dir
	_, _, err := Startup(dir, file, false)
	require.NoError(t, err)
	t.Setenv("RWPROXY_MAX_CONNECTIONS", "77")
	cfg, _, err := Startup(dir, file, false)
	require.NoError(t, err)
	require.Equal(t, 77, cfg.MaxConnections)
}
