package integration

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
)

// startProxy starts an in-process proxy whose only backend is the sandbox
// primary (hostgroup 10, no reader hostgroup): every statement runs on the
// primary, so that results compare with a direct connection to it whatever
// the read/write split decides. edit, when not nil, changes the
// configuration first.
func startProxy(t *testing.T, edit func(*config.Config)) *app.App {
	t.Helper()
	cfg := testkit.SandboxConfig(sb)
	cfg.Servers = cfg.Servers[:1]
	require.Equal(t, 10, cfg.Servers[0].Hostgroup)
	require.Equal(t, sb.Ports[0], cfg.Servers[0].Port)
	cfg.ReplicationHostgroups = nil
	if edit != nil {
		edit(cfg)
	}
	return testkit.StartProxy(t, cfg)
}

// startSplitProxy starts an in-process proxy with testkit's full sandbox
// configuration: hostgroup 10 the primary, hostgroup 20 the replicas.
func startSplitProxy(t *testing.T) *app.App {
	t.Helper()
	return testkit.StartProxy(t, testkit.SandboxConfig(sb))
}

// dsn builds a go-sql-driver DSN for user (password = user name) at addr.
// params are extra "k=v" pairs; unless they set maxAllowedPacket, it is 0,
// which makes the driver ask the server (256 MiB).
func dsn(addr, user, db string, params ...string) string {
	q := params
	if !slices.ContainsFunc(params, func(p string) bool { return strings.HasPrefix(p, "maxAllowedPacket=") }) {
		q = append([]string{"maxAllowedPacket=0"}, params...)
	}
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", user, user, addr, db, strings.Join(q, "&"))
}

// openDB opens a database/sql handle that is closed when the test ends, and
// checks that it can log in.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "login with %s", dsn)
	return db
}

// conn returns one dedicated connection of db, closed at the end of the test.
func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// myErr requires err to be a server (or proxy) error and returns it.
func myErr(t *testing.T, err error) *mysql.MySQLError {
	t.Helper()
	require.Error(t, err)
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me, "want a MySQL error, got %v", err)
	return me
}

// sameError requires two errors to carry the same code, SQLSTATE and
// message (the direct one is the reference).
func sameError(t *testing.T, direct, proxied error) {
	t.Helper()
	d, p := myErr(t, direct), myErr(t, proxied)
	require.Equal(t, d.Number, p.Number, "error code (direct %q, proxy %q)", d.Message, p.Message)
	require.Equal(t, d.SQLState, p.SQLState, "SQLSTATE")
	require.Equal(t, d.Message, p.Message, "message")
}

// cliResult is one run of the mariadb command-line client.
type cliResult struct {
	stdout, stderr string
	err            error
}

// runCLI runs the mariadb client against addr as user with password pass,
// feeding stdin; args come before the connection options are appended.
func runCLI(t *testing.T, addr, user, pass, stdin string, args ...string) cliResult {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--no-defaults", "--protocol=TCP", "-h", host, "-P", port, "-u", user, "-p" + pass}, args...)
	cmd := exec.CommandContext(ctx, "mariadb", full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return cliResult{stdout: out.String(), stderr: errb.String(), err: err}
}

// primary is the address of the sandbox primary (hostgroup 10).
func primary() string { return sb.Addr(1) }

// createSchema (re)creates schema on the primary, runs ddl in it and waits
// until both replicas have it.
func createSchema(t *testing.T, schema string, ddl []string) {
	t.Helper()
	d := conn(t, openDB(t, dsn(primary(), "app", "")))
	spExec(t, d, "DROP DATABASE IF EXISTS "+schema)
	spExec(t, d, "CREATE DATABASE "+schema)
	spExec(t, d, "USE "+schema)
	for _, q := range ddl {
		spExec(t, d, q)
	}
	_, err := sb.Run("sync")
	require.NoError(t, err)
}

// nodeOf returns the sandbox node (1..3) listening on port, or 0.
func nodeOf(port int) int {
	for i, p := range sb.Ports {
		if p == port {
			return i + 1
		}
	}
	return 0
}
