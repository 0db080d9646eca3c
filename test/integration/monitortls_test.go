package integration

import (
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/certs"
)

// probeFallback is the version announced when the start-up probe reaches
// no server (internal/app fallbackVersion).
const probeFallback = "8.0.36-rwproxy"

// TestSecurityMonitorTLS: a server with require_secure_transport=ON (a
// dedicated MariaDB, so nothing shared is changed) refuses every plain TCP
// connection. With use_tls on, the version probe, the monitor and the data
// connections all reach it over TLS: it is ONLINE and serves reads. With
// use_tls off, the probe falls back, and the monitor reports it SHUNNED
// with the server's refusal in the ping log. LOAD MYSQL SERVERS TO RUNTIME
// switches the monitor's connection both ways.
func TestSecurityMonitorTLS(t *testing.T) {
	needSandbox(t, "mariadb", "mariadb-install-db", "mariadb-admin")
	ca := certs.NewCA(t, "backend CA")
	files := ca.WriteFiles(t, t.TempDir(), "127.0.0.1")
	m := secStartTLSMariaDB(t, files)
	// The unix socket the test's SQL uses stays allowed.
	m.sql(t, "SET GLOBAL require_secure_transport=ON")
	host, portStr, _ := net.SplitHostPort(m.addr)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	version := strings.TrimSpace(m.sql(t, "SELECT VERSION()"))
	start := func(t *testing.T, useTLS bool) *admProxy {
		t.Helper()
		yaml := secBackendConfig(host, port)
		yaml.Servers[0].UseTLS = useTLS
		yaml.TLS.BackendCA = files.CA
		yaml.Monitor.Timeout = 5 * time.Second // a loaded 2-core machine: no tight bound
		yaml.Admin.Listen, yaml.Admin.Datadir = "127.0.0.1:0", t.TempDir()
		return admStart(t, yaml, yaml.Admin.Datadir)
	}
	status := func(t *testing.T, p *admProxy) string {
		rows := p.rows(t, fmt.Sprintf("SELECT status FROM runtime_mysql_servers WHERE port=%d", port))
		if len(rows) != 1 {
			return fmt.Sprint(rows)
		}
		return rows[0][0]
	}
	eventuallyStatus := func(t *testing.T, p *admProxy, want string) {
		t.Helper()
		require.Eventually(t, func() bool { return status(t, p) == want }, 60*time.Second, 100*time.Millisecond,
			"runtime_mysql_servers status: want %s, have %s", want, status(t, p))
	}
	// read runs a read through the proxy and returns the port of the
	// server that answered and the TLS version of its session.
	read := func(t *testing.T, p *admProxy) (int, string) {
		t.Helper()
		db, err := sql.Open("mysql", fmt.Sprintf("tlsonly:tlsonly@tcp(%s)/?timeout=10s", p.app.Addr()))
		require.NoError(t, err)
		defer db.Close()
		c, err := db.Conn(t.Context())
		require.NoError(t, err)
		defer c.Close()
		var got int
		require.NoError(t, c.QueryRowContext(t.Context(), "SELECT @@port").Scan(&got))
		var name, tlsVersion string
		require.NoError(t, c.QueryRowContext(t.Context(), "SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &tlsVersion))
		return got, tlsVersion
	}

	t.Run("use_tls on", func(t *testing.T) {
		p := start(t, true)
		require.Contains(t, p.app.ServerVersion(), version, "the version probe reached the server over TLS")
		eventuallyStatus(t, p, "ONLINE")
		require.Eventually(t, func() bool {
			r := p.rows(t, fmt.Sprintf("SELECT COUNT(*) FROM monitor.mysql_server_ping_log WHERE port=%d AND ping_error IS NULL", port))
			return r[0][0] != "0"
		}, 30*time.Second, 100*time.Millisecond)
		got, tlsVersion := read(t, p)
		require.Equal(t, port, got, "the read went to the TLS-only server")
		require.True(t, strings.HasPrefix(tlsVersion, "TLSv1."), "data connection TLS: %q", tlsVersion)
		require.Equal(t, "ONLINE", status(t, p))
	})

	t.Run("use_tls off, then switched at runtime", func(t *testing.T) {
		p := start(t, false)
		require.Equal(t, probeFallback, p.app.ServerVersion(), "a plain probe is refused")
		eventuallyStatus(t, p, "SHUNNED")
		errs := p.rows(t, fmt.Sprintf("SELECT ping_error FROM monitor.mysql_server_ping_log WHERE port=%d AND ping_error IS NOT NULL", port))
		require.NotEmpty(t, errs)
		// MariaDB 10.11 refuses a plain login under
		// require_secure_transport with a plain "access denied".
		require.Contains(t, errs[0][0], "ERROR 1045 (28000): Access denied for user 'monitor'",
			"the server's refusal is logged")

		p.run(t, fmt.Sprintf("UPDATE mysql_servers SET use_tls=1 WHERE port=%d", port), "LOAD MYSQL SERVERS TO RUNTIME")
		eventuallyStatus(t, p, "ONLINE")
		got, tlsVersion := read(t, p)
		require.Equal(t, port, got)
		require.True(t, strings.HasPrefix(tlsVersion, "TLSv1."), tlsVersion)

		p.run(t, fmt.Sprintf("UPDATE mysql_servers SET use_tls=0 WHERE port=%d", port), "LOAD MYSQL SERVERS TO RUNTIME")
		eventuallyStatus(t, p, "SHUNNED")
	})
}
