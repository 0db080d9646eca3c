package integration

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLI drives the mariadb command-line client through the proxy: queries,
// USE, SHOW TABLES, the status command and \r (reconnect), and a failed
// login.
func TestCLI(t *testing.T) {
	needSandbox(t, "mariadb")
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	_, err := direct.Exec("CREATE TABLE IF NOT EXISTS app.cli_probe (id INT)")
	require.NoError(t, err)
	announced := a.ServerVersion()
	require.NotEmpty(t, announced)

	t.Run("session", func(t *testing.T) {
		script := strings.Join([]string{
			"SELECT VERSION();",
			"USE app;",
			"SHOW TABLES LIKE 'cli\\_probe';",
			"SET @before_reconnect = 'set'; SET SESSION sql_mode = 'ANSI_QUOTES';",
			"status",
			`\r`,
			"SELECT DATABASE(), IFNULL(@before_reconnect, 'gone'), @@sql_mode = @@GLOBAL.sql_mode;",
		}, "\n") + "\n"
		dr := runCLI(t, primary(), "app", "app", script)
		require.NoError(t, dr.err, dr.stderr)
		pr := runCLI(t, a.Addr(), "app", "app", script)
		require.NoError(t, pr.err, pr.stderr)
		require.Empty(t, pr.stderr)

		var version string
		require.NoError(t, direct.QueryRow("SELECT VERSION()").Scan(&version))
		lines := strings.Split(pr.stdout, "\n")
		require.GreaterOrEqual(t, len(lines), 4, pr.stdout)
		require.Equal(t, []string{"VERSION()", version, "Tables_in_app (cli\\_probe)", "cli_probe"}, lines[:4], "SELECT VERSION(), SHOW TABLES")
		// status: the version the proxy announced, the current schema
		// MariaDB announces "5.5.5-10.11..." and the CLI hides the prefix.
		require.Contains(t, pr.stdout, "Server version:\t\t"+strings.TrimPrefix(announced, "5.5.5-"))
		require.Contains(t, pr.stdout, "Current database:\tapp")
		require.Contains(t, pr.stdout, "Connection:\t\t127.0.0.1 via TCP/IP")
		// after \r: a new session, same schema, no state of the old one
		require.True(t, strings.HasSuffix(pr.stdout, "DATABASE()\tIFNULL(@before_reconnect, 'gone')\t@@sql_mode = @@GLOBAL.sql_mode\napp\tgone\t1\n"),
			"after the reconnect:\n%s", pr.stdout[max(0, len(pr.stdout)-300):])
		// direct gives the same query output
		require.True(t, strings.HasSuffix(dr.stdout, "app\tgone\t1\n"), dr.stdout)
		require.Equal(t, strings.Split(dr.stdout, "\n")[:4], lines[:4])
	})

	t.Run("wrong password", func(t *testing.T) {
		pr := runCLI(t, a.Addr(), "app", "wrong", "", "-e", "SELECT 1")
		require.Error(t, pr.err)
		require.True(t, strings.HasPrefix(pr.stderr, "ERROR 1045 (28000): Access denied for user 'app'@"), pr.stderr)
		require.Empty(t, pr.stdout)
	})

	t.Run("wrong password message as direct", func(t *testing.T) {
		dr := runCLI(t, primary(), "app", "wrong", "", "-e", "SELECT 1")
		pr := runCLI(t, a.Addr(), "app", "wrong", "", "-e", "SELECT 1")
		require.Error(t, dr.err)
		require.Equal(t, dr.stderr, pr.stderr)
	})
}
