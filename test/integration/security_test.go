package integration

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gsql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/internal/testkit/certs"
	"github.com/rwproxy/rwproxy/protocol"
)

// secUser is a frontend user of the security tests; its password (and
// its backend account's) is its name.
type secUser struct {
	name, plugin string
	hashed       bool // password stored as a mysql_native_password hash
	requireTLS   bool
}

var secUsers = []secUser{
	{name: "app", plugin: config.AuthNativePassword},
	{name: "app2", plugin: config.AuthCachingSha2},
	{name: "sec_hash", plugin: config.AuthNativePassword, hashed: true},
	{name: "sec_shahash", plugin: config.AuthCachingSha2, hashed: true},
	{name: "sec_tls", plugin: config.AuthNativePassword, requireTLS: true},
}

// secBackendAccounts creates the sandbox accounts the sec_* users log
// into the backends with (app and app2 exist already).
func secBackendAccounts(t *testing.T) {
	t.Helper()
	var b strings.Builder
	for _, u := range secUsers {
		if strings.HasPrefix(u.name, "sec_") {
			fmt.Fprintf(&b, "CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY '%s'; GRANT ALL PRIVILEGES ON *.* TO '%[1]s'@'127.0.0.1';", u.name, u.name)
		}
	}
	_, err := sb.SQL(1, b.String())
	require.NoError(t, err)
}

// secTLSProxy starts a proxy on the sandbox primary with TLS for clients
// (a CA and a certificate for 127.0.0.1 made in a temporary directory)
// and secUsers configured.
func secTLSProxy(t *testing.T) (*app.App, certs.Files, *certs.CA) {
	t.Helper()
	secBackendAccounts(t)
	ca := certs.NewCA(t, "rwproxy security test CA")
	files := ca.WriteFiles(t, t.TempDir(), "127.0.0.1", "localhost")
	a := startProxy(t, func(c *config.Config) {
		c.TLS.Cert, c.TLS.Key = files.Cert, files.Key
		c.Users = nil
		for _, u := range secUsers {
			cu := config.User{Username: u.name, Password: u.name, DefaultHostgroup: 10, AuthPlugin: u.plugin, RequireTLS: u.requireTLS}
			if u.hashed {
				cu.Password, cu.BackendPassword = protocol.NativeHash(u.name), u.name
			}
			c.Users = append(c.Users, cu)
		}
	})
	return a, files, ca
}

// secRegisterTLS registers go-sql-driver TLS configs: "sec-verify"
// (verifies the proxy's certificate with ca) and "sec-skip" (no
// verification). handshakes counts completed TLS handshakes of both.
func secRegisterTLS(t *testing.T, ca *certs.CA) *atomic.Int64 {
	t.Helper()
	var handshakes atomic.Int64
	count := func(tls.ConnectionState) error { handshakes.Add(1); return nil }
	require.NoError(t, gsql.RegisterTLSConfig("sec-verify", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1",
		MinVersion: tls.VersionTLS12, VerifyConnection: count}))
	require.NoError(t, gsql.RegisterTLSConfig("sec-skip", &tls.Config{InsecureSkipVerify: true, //nolint:gosec // test of the skip-verify mode
		MinVersion: tls.VersionTLS12, VerifyConnection: count}))
	t.Cleanup(func() { gsql.DeregisterTLSConfig("sec-verify"); gsql.DeregisterTLSConfig("sec-skip") })
	return &handshakes
}

// secCurrentUser logs in with go-sql-driver and returns CURRENT_USER() as
// the backend sees it.
func secCurrentUser(addr, user, pass, tlsName string) (string, error) {
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/?timeout=10s", user, pass, addr)
	if tlsName != "" {
		dsn += "&tls=" + tlsName
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var cu string
	err = db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&cu)
	return cu, err
}

func secRequireDenied(t *testing.T, err error, user string) {
	t.Helper()
	me := myErr(t, err)
	require.Equal(t, uint16(1045), me.Number, me.Message)
	require.Equal(t, "28000", string(me.SQLState[:]))
	require.Contains(t, me.Message, "Access denied for user '"+user+"'@'127.0.0.1'")
}

// TestSecurityTLSAuthMatrix logs in through the proxy with go-sql-driver
// and the mariadb CLI, for every user kind (mysql_native_password and
// caching_sha2_password, passwords stored plain and as native hashes, a
// require_tls user), with and without TLS, with the right password and a
// wrong one; each login that succeeds runs a query on the backend.
func TestSecurityTLSAuthMatrix(t *testing.T) {
	needSandbox(t, "mariadb")
	a, files, ca := secTLSProxy(t)
	handshakes := secRegisterTLS(t, ca)

	t.Run("go-sql-driver", func(t *testing.T) {
		for _, u := range secUsers {
			for _, tlsName := range []string{"", "sec-verify"} {
				t.Run(fmt.Sprintf("%s/tls=%t", u.name, tlsName != ""), func(t *testing.T) {
					before := handshakes.Load()
					cu, err := secCurrentUser(a.Addr(), u.name, u.name, tlsName)
					if u.requireTLS && tlsName == "" {
						secRequireDenied(t, err, u.name)
						return
					}
					require.NoError(t, err)
					require.Equal(t, u.name+"@127.0.0.1", cu, "the backend account")
					if tlsName != "" {
						require.Equal(t, before+1, handshakes.Load(), "one TLS handshake")
					}
					_, err = secCurrentUser(a.Addr(), u.name, "wrong-"+u.name, tlsName)
					secRequireDenied(t, err, u.name)
				})
			}
		}
		t.Run("unverified certificate", func(t *testing.T) {
			_, err := secCurrentUser(a.Addr(), "app", "app", "true") // system roots
			require.ErrorContains(t, err, "certificate signed by unknown authority")
			cu, err := secCurrentUser(a.Addr(), "app", "app", "sec-skip")
			require.NoError(t, err)
			require.Equal(t, "app@127.0.0.1", cu)
		})
	})

	t.Run("mariadb CLI", func(t *testing.T) {
		modes := []struct {
			name string
			args []string
		}{
			{"no TLS", []string{"--skip-ssl"}},
			{"TLS verified", []string{"--ssl", "--ssl-ca=" + files.CA, "--ssl-verify-server-cert"}},
			{"TLS unverified", []string{"--ssl", "--ssl-verify-server-cert=off"}},
		}
		for _, u := range secUsers {
			for _, m := range modes {
				t.Run(u.name+"/"+m.name, func(t *testing.T) {
					args := append(append([]string{}, m.args...), "-N")
					r := runCLI(t, a.Addr(), u.name, u.name, "SELECT CURRENT_USER();\nstatus\n", args...)
					if u.requireTLS && m.name == "no TLS" {
						require.Error(t, r.err)
						require.True(t, strings.HasPrefix(r.stderr, "ERROR 1045 (28000): Access denied for user '"+u.name+"'@'127.0.0.1'"), r.stderr)
						return
					}
					require.NoError(t, r.err, r.stderr)
					require.True(t, strings.HasPrefix(r.stdout, u.name+"@127.0.0.1\n"), r.stdout)
					if m.name == "no TLS" {
						require.Regexp(t, `SSL:\s+Not in use`, r.stdout)
					} else {
						require.Regexp(t, `SSL:\s+Cipher in use is \S+`, r.stdout)
					}
					r = runCLI(t, a.Addr(), u.name, "wrong", "", append(append([]string{}, m.args...), "-e", "SELECT 1")...)
					require.Error(t, r.err)
					require.True(t, strings.HasPrefix(r.stderr, "ERROR 1045 (28000): Access denied for user '"+u.name+"'@'127.0.0.1'"), r.stderr)
				})
			}
		}
		t.Run("CA mismatch", func(t *testing.T) {
			other := certs.NewCA(t, "not the proxy's CA")
			otherCA := filepath.Join(t.TempDir(), "other.pem")
			require.NoError(t, os.WriteFile(otherCA, other.PEM, 0o600))
			r := runCLI(t, a.Addr(), "app", "app", "", "--ssl", "--ssl-ca="+otherCA, "--ssl-verify-server-cert", "-e", "SELECT 1")
			require.Error(t, r.err)
			require.Contains(t, r.stderr, "ERROR 2026", "TLS/SSL error")
		})
	})
	require.Zero(t, a.Stats.Panics.Load())
}

// TestSecurityNoTLSListener: without tls.cert the greeting offers no TLS,
// so a client that requires it fails, and caching_sha2_password works by
// the RSA key exchange (go-sql-driver requests the server's public key by
// itself; no allowPublicKeyRetrieval needed).
func TestSecurityNoTLSListener(t *testing.T) {
	needSandbox(t, "mariadb")
	a := startProxy(t, func(c *config.Config) { c.Users[1].AuthPlugin = config.AuthCachingSha2 })
	cu, err := secCurrentUser(a.Addr(), "app2", "app2", "")
	require.NoError(t, err)
	require.Equal(t, "app2@127.0.0.1", cu)
	_, err = secCurrentUser(a.Addr(), "app2", "app2", "skip-verify")
	require.ErrorContains(t, err, "TLS requested but server does not support TLS")
	r := runCLI(t, a.Addr(), "app2", "app2", "", "-N", "-e", "SELECT CURRENT_USER()")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "app2@127.0.0.1\n", r.stdout)
	r = runCLI(t, a.Addr(), "app2", "app2", "", "--ssl", "--ssl-verify-server-cert", "-e", "SELECT 1")
	require.Error(t, r.err, "a client that insists on TLS")
}

// TestSecurityPasswordReload: a changed password applies to the next
// login, and the caching_sha2_password cache does not keep the old one.
func TestSecurityPasswordReload(t *testing.T) {
	needSandbox(t, "mariadb")
	a, _, _ := secTLSProxy(t)
	_, err := secCurrentUser(a.Addr(), "app2", "app2", "")
	require.NoError(t, err)
	c := a.Store.Current().Clone()
	for i := range c.Users {
		if c.Users[i].Username == "app2" {
			c.Users[i].Password, c.Users[i].BackendPassword = "rotated", "app2"
		}
	}
	require.NoError(t, a.Store.Apply(context.Background(), c, config.SourceLocal))
	require.Eventually(t, func() bool {
		_, err := secCurrentUser(a.Addr(), "app2", "rotated", "")
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	_, err = secCurrentUser(a.Addr(), "app2", "app2", "")
	secRequireDenied(t, err, "app2")
}

// secMariaDB is a MariaDB server with TLS, started for one test.
type secMariaDB struct {
	addr, dir, sock string
}

// secStartTLSMariaDB starts a fourth MariaDB (not replicated) whose TLS
// certificate is files.Cert, with an account tlsonly/tlsonly created
// REQUIRE SSL and monitor/monitor for the proxy's health checks.
func secStartTLSMariaDB(t *testing.T, files certs.Files) *secMariaDB {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	m := &secMariaDB{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, sock: filepath.Join(dir, "mariadbd.sock")}
	cnf := filepath.Join(dir, "my.cnf")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o700))
	require.NoError(t, os.WriteFile(cnf, fmt.Appendf(nil, `[mariadbd]
datadir=%[1]s/data
socket=%[2]s
pid-file=%[1]s/mariadbd.pid
log-error=%[1]s/error.log
port=%[3]d
bind-address=127.0.0.1
skip-name-resolve
skip-log-bin
performance_schema=OFF
innodb_buffer_pool_size=16M
ssl-ca=%[4]s
ssl-cert=%[5]s
ssl-key=%[6]s
`, dir, m.sock, port, files.CA, files.Cert, files.Key), 0o600))
	if u := os.Getenv("USER"); u == "" || u == "root" {
		f, err := os.OpenFile(cnf, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, _ = f.WriteString("user=root\n")
		require.NoError(t, f.Close())
	}
	install := exec.Command(secBin(t, "mariadb-install-db"), "--defaults-file="+cnf, "--auth-root-authentication-method=socket",
		"--skip-test-db")
	out, err := install.CombinedOutput()
	require.NoError(t, err, "mariadb-install-db: %s", out)
	srv := exec.Command(secBin(t, "mariadbd"), "--defaults-file="+cnf)
	require.NoError(t, srv.Start())
	t.Cleanup(func() {
		_ = exec.Command("mariadb-admin", "--no-defaults", "-S", m.sock, "shutdown").Run()
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	})
	require.Eventually(t, func() bool {
		return exec.Command("mariadb-admin", "--no-defaults", "-S", m.sock, "ping").Run() == nil
	}, 60*time.Second, 100*time.Millisecond, "the TLS MariaDB did not start; see %s/error.log", dir)
	m.sql(t, "CREATE USER 'tlsonly'@'127.0.0.1' IDENTIFIED BY 'tlsonly' REQUIRE SSL;"+
		"GRANT ALL PRIVILEGES ON *.* TO 'tlsonly'@'127.0.0.1';"+
		"CREATE USER 'monitor'@'127.0.0.1' IDENTIFIED BY 'monitor'; GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'monitor'@'127.0.0.1';")
	return m
}

func (m *secMariaDB) sql(t *testing.T, q string) string {
	t.Helper()
	out, err := exec.Command("mariadb", "--no-defaults", "-S", m.sock, "-N", "-B", "-e", q).CombinedOutput()
	require.NoError(t, err, "%s: %s", q, out)
	return string(out)
}

func secBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	t.Fatalf("%s not found", name)
	return ""
}

// secBackendConfig is a proxy configuration whose only server (hostgroup
// 10) is host:port and whose only user is tlsonly.
func secBackendConfig(host string, port int) *config.Config {
	c := config.Defaults()
	c.Listen = "127.0.0.1:0"
	c.Users = []config.User{{Username: "tlsonly", Password: "tlsonly", DefaultHostgroup: 10}}
	c.Servers = []config.Server{{Hostgroup: 10, Host: host, Port: port, Weight: 1, Status: config.StatusOnline, MaxConnections: 50}}
	c.FillDefaults()
	return c
}

// TestSecurityBackendTLS connects the proxy's pools to a MariaDB that
// requires TLS of the account: servers[].use_tls with tls.backend_ca
// (verified, host name included), a wrong CA, no TLS, and skip-verify.
func TestSecurityBackendTLS(t *testing.T) {
	needSandbox(t, "mariadb", "mariadb-install-db", "mariadb-admin")
	ca := certs.NewCA(t, "backend CA")
	files := ca.WriteFiles(t, t.TempDir(), "127.0.0.1") // not "localhost"
	m := secStartTLSMariaDB(t, files)
	host, port, _ := net.SplitHostPort(m.addr)
	var p int
	_, _ = fmt.Sscan(port, &p)
	proxy := func(t *testing.T, edit func(c *config.Config)) *app.App {
		cfg := secBackendConfig(host, p)
		edit(cfg)
		return testkit.StartProxy(t, cfg)
	}
	query := func(a *app.App) (string, error) {
		db, err := sql.Open("mysql", fmt.Sprintf("tlsonly:tlsonly@tcp(%s)/?timeout=10s", a.Addr()))
		if err != nil {
			return "", err
		}
		defer db.Close()
		var name, version string
		err = db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &version)
		return version, err
	}

	t.Run("verified with the CA", func(t *testing.T) {
		a := proxy(t, func(c *config.Config) { c.Servers[0].UseTLS = true; c.TLS.BackendCA = files.CA })
		v, err := query(a)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(v, "TLSv1."), "the backend session's TLS version: %q", v)
	})
	t.Run("not verified", func(t *testing.T) {
		a := proxy(t, func(c *config.Config) { c.Servers[0].UseTLS = true; c.TLS.BackendInsecureSkipVerify = true })
		v, err := query(a)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(v, "TLSv1."), v)
	})
	t.Run("host name mismatch", func(t *testing.T) {
		a := proxy(t, func(c *config.Config) {
			c.Servers[0].UseTLS, c.Servers[0].Host = true, "localhost" // the certificate names 127.0.0.1 only
			c.TLS.BackendCA = files.CA
		})
		_, err := query(a)
		me := myErr(t, err)
		// The writer is retried for failover_buffer, then: no writer,
		// with the last attempt's condition (the x509 detail is logged).
		require.Equal(t, protocol.ErrCodeNoBackend, me.Number)
		require.Contains(t, me.Message, "(last attempt: TLS certificate verification failed)")
	})
	t.Run("chain only", func(t *testing.T) {
		a := proxy(t, func(c *config.Config) {
			c.Servers[0].UseTLS, c.Servers[0].Host = true, "localhost"
			c.TLS.BackendCA, c.TLS.BackendVerifyHostname = files.CA, false
		})
		v, err := query(a)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(v, "TLSv1."), v)
	})
	t.Run("wrong CA", func(t *testing.T) {
		other := certs.NewCA(t, "another CA")
		otherCA := filepath.Join(t.TempDir(), "other.pem")
		require.NoError(t, os.WriteFile(otherCA, other.PEM, 0o600))
		a := proxy(t, func(c *config.Config) { c.Servers[0].UseTLS = true; c.TLS.BackendCA = otherCA })
		_, err := query(a)
		me := myErr(t, err)
		// The writer is retried for failover_buffer, then: no writer,
		// with the last attempt's condition (the x509 detail is logged).
		require.Equal(t, protocol.ErrCodeNoBackend, me.Number)
		require.Contains(t, me.Message, "(last attempt: TLS certificate verification failed)")
	})
	t.Run("no TLS to an account that requires it", func(t *testing.T) {
		a := proxy(t, func(*config.Config) {})
		_, err := query(a)
		me := myErr(t, err)
		require.Equal(t, uint16(1045), me.Number, "the backend's refusal: %s", me.Message)
	})
	t.Run("unreadable CA stops the start", func(t *testing.T) {
		cfg := secBackendConfig(host, p)
		cfg.Servers[0].UseTLS, cfg.TLS.BackendCA = true, filepath.Join(t.TempDir(), "missing.pem")
		cfg.ServerVersion = "8.0.36-test" // no version probe
		_, err := app.New(cfg, zaptest.NewLogger(t))
		require.ErrorContains(t, err, "tls.backend_ca")
	})
}

// TestSecurityLimits: max_query_length (9004, the session goes on),
// max_prepared_statements (1461), max_allowed_packet (1153 and the
// connection closed) and the login rate (1129).
func TestSecurityLimits(t *testing.T) {
	needSandbox(t)
	t.Run("statement length and prepared statements", func(t *testing.T) {
		a := startProxy(t, func(c *config.Config) {
			c.Limits.MaxQueryLength = 4096
			c.Limits.MaxPreparedStatements = 4
		})
		db := openDB(t, dsn(a.Addr(), "app", "app"))
		c := conn(t, db)
		ctx := context.Background()
		var s string
		long := "SELECT '" + strings.Repeat("x", 5000) + "'"
		err := c.QueryRowContext(ctx, long).Scan(&s)
		me := myErr(t, err)
		require.Equal(t, uint16(9004), me.Number)
		require.Equal(t, "rwproxy: statement of 5009 bytes is longer than max_query_length (4096)", me.Message)
		require.NoError(t, c.QueryRowContext(ctx, "SELECT 'still here'").Scan(&s), "the session goes on")

		var stmts []*sql.Stmt
		for i := range 4 {
			st, err := c.PrepareContext(ctx, fmt.Sprintf("SELECT %d + ?", i))
			require.NoError(t, err)
			stmts = append(stmts, st)
		}
		_, err = c.PrepareContext(ctx, "SELECT 5 + ?")
		me = myErr(t, err)
		require.Equal(t, uint16(1461), me.Number)
		require.Equal(t, "Can't create more than max_prepared_stmt_count statements (current value: 4)", me.Message)
		require.NoError(t, stmts[0].Close())
		st, err := c.PrepareContext(ctx, "SELECT 5 + ?")
		require.NoError(t, err, "a closed statement frees its slot")
		var n int
		require.NoError(t, st.QueryRowContext(ctx, 1).Scan(&n))
		require.Equal(t, 6, n)
	})
	t.Run("max_allowed_packet", func(t *testing.T) {
		a := startProxy(t, func(c *config.Config) { c.Limits.MaxAllowedPacket = 1 << 20 })
		c, raw := rawLogin(t, a.Addr(), "app", "app")
		r, err := c.Execute("SELECT '" + strings.Repeat("y", 900<<10) + "'")
		require.NoError(t, err, "under the limit")
		require.Equal(t, 1, r.RowNumber())
		big := append([]byte{0x03}, []byte("SELECT '"+strings.Repeat("z", 2<<20)+"'")...)
		go func() { _ = writeRaw(raw, 0, big) }()
		if p := expectErrOrClose(t, raw, 30*time.Second); p != nil {
			require.Equal(t, uint16(1153), p.errCode(), "%v", p)
		}
	})
	t.Run("login rate", func(t *testing.T) {
		a := startProxy(t, func(c *config.Config) { c.Limits.LoginRate, c.Limits.LoginBurst = 0.01, 3 })
		for i := range 3 {
			_, err := secCurrentUser(a.Addr(), "app", "app", "")
			require.NoError(t, err, "login %d within the burst", i)
		}
		_, err := secCurrentUser(a.Addr(), "app", "app", "")
		me := myErr(t, err)
		require.Equal(t, uint16(1129), me.Number)
		require.Contains(t, me.Message, "Host '127.0.0.1' is blocked: too many connection attempts")
		require.Equal(t, uint64(1), a.LoginsRefused())
		// Turning the limit off applies at once.
		cfg := a.Store.Current().Clone()
		cfg.Limits.LoginRate = 0
		require.NoError(t, a.Store.Apply(context.Background(), cfg, config.SourceLocal))
		_, err = secCurrentUser(a.Addr(), "app", "app", "")
		require.NoError(t, err)
	})
}

// memSample is the test process's memory at one moment: the Go heap in
// use and the resident set size.
//
// Under the race detector (make test) rss is the memory the Go runtime
// holds from the OS (Sys - HeapReleased) instead: the detector's shadow
// memory, several times what the heap ever touched, is resident and never
// given back, so after a storm the process's RSS stays hundreds of MB above
// its baseline although the heap is back (seen: heap 5.8 MB vs 4.5 MB, RSS
// 776 MB vs 150 MB). Without -race rss is VmRSS.
type memSample struct{ heapInuse, rss uint64 }

func sampleMem() memSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := vmRSS()
	if raceEnabled {
		rss = ms.Sys - ms.HeapReleased
	}
	return memSample{heapInuse: ms.HeapInuse, rss: rss}
}

// vmRSS reads VmRSS from /proc/self/status, in bytes (0 if unavailable).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			_, _ = fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}

// settledMem collects garbage and returns the memory in use afterwards.
func settledMem() memSample {
	runtime.GC()
	runtime.GC()
	return sampleMem()
}

// TestSecuritySlowClientBackpressure: a client that reads a 500 MB result
// slowly holds the relay on its socket writes, which holds the backend on
// its own: the proxy never buffers the result. The proxy runs in this
// process, and the client reads raw bytes and keeps none of them, so the
// heap's growth is the proxy's.
func TestSecuritySlowClientBackpressure(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	_, raw := rawLogin(t, a.Addr(), "app", "app")
	const rows, rowSize = 500, 1 << 20
	q := fmt.Sprintf("WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %d) "+
		"SELECT n, REPEAT('x', %d) FROM s", rows, rowSize)
	base := settledMem()
	require.NoError(t, writeRaw(raw, 0, append([]byte{0x03}, q...)))

	peak := base
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s := sampleMem()
				peak.heapInuse = max(peak.heapInuse, s.heapInuse)
				peak.rss = max(peak.rss, s.rss)
			}
		}
	}()

	// Read packet by packet, discarding payloads in 64 KiB steps at about
	// 50 MB/s, after a 2 s stall once the first row has arrived.
	var total int64
	eofs, rowsSeen := 0, 0
	start := time.Now()
	buf := make([]byte, 64<<10)
	for eofs < 2 {
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(60*time.Second)))
		var h [4]byte
		_, err := io.ReadFull(raw, h[:])
		require.NoError(t, err)
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		first := true
		for left := n; left > 0; {
			m, err := io.ReadFull(raw, buf[:min(left, len(buf))])
			require.NoError(t, err)
			if first {
				require.NotEqual(t, byte(0xff), buf[0], "an error instead of rows: %q", buf[:m])
				if buf[0] == 0xfe && n < 9 {
					eofs++
				}
				first = false
			}
			left -= m
			total += int64(m)
			time.Sleep(time.Millisecond)
		}
		if n > rowSize {
			rowsSeen++
			if rowsSeen == 1 {
				time.Sleep(2 * time.Second)
			}
		}
	}
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	require.Equal(t, rows, rowsSeen)
	require.Greater(t, total, int64(rows*rowSize))
	heapGrowth := int64(peak.heapInuse) - int64(base.heapInuse)
	rssGrowth := int64(peak.rss) - int64(base.rss)
	t.Logf("read %d MB in %s; peak heap in use %+.1f MB, peak RSS %+.1f MB over the idle baseline (heap %.1f MB, RSS %.1f MB)",
		total>>20, elapsed.Round(time.Millisecond), float64(heapGrowth)/(1<<20), float64(rssGrowth)/(1<<20),
		float64(base.heapInuse)/(1<<20), float64(base.rss)/(1<<20))
	// Without -race the heap grows by about 6 MB (go-mysql reads each 1 MB
	// row into a pooled buffer; the garbage waits for the next GC), under
	// -race by about 14 MB: far from the 500 MB a buffering proxy holds.
	require.Less(t, heapGrowth, int64(32<<20), "the proxy buffered the result instead of blocking on the client")
	require.Less(t, rssGrowth, int64(64<<20), "RSS grew with the result")
	// The session is still usable after the result.
	p, err := readRawAfter(raw)
	require.NoError(t, err, "%v", p)
}

// readRawAfter sends COM_PING and reads its answer.
func readRawAfter(raw net.Conn) (rawPacket, error) {
	if err := writeRaw(raw, 0, []byte{0x0e}); err != nil {
		return rawPacket{}, err
	}
	p, err := readRaw(raw, 10*time.Second)
	if err == nil && (len(p.payload) == 0 || p.payload[0] != 0) {
		err = fmt.Errorf("not an OK packet")
	}
	return p, err
}
