package ops

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// netDialer dials with a short timeout.
type netDialer struct{}

func (netDialer) dial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // the test's own proxy
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// closedPort returns a port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	return freePort(t)
}

// blackHole listens on a port that accepts connections and never answers
// (a host whose MySQL hangs), and returns the port.
func blackHole(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// writerAt starts a proxy whose writer (hostgroup 10) is at port, the
// readers the sandbox's replicas.
func writerAt(t *testing.T, port int, extra string) *proxy {
	t.Helper()
	p := newProxy(t, extra)
	cfg := p.render(1, 1)
	cfg = strings.Replace(cfg, fmt.Sprintf("{ hostgroup: 10, host: 127.0.0.1, port: %d,", sb.Ports[0]),
		fmt.Sprintf("{ hostgroup: 10, host: 127.0.0.1, port: %d,", port), 1)
	p.write(t, cfg)
	p.start(t, nil)
	return p
}

func mysqlErr(t *testing.T, err error) *mysql.MySQLError {
	t.Helper()
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want a MySQL error, got %v", err)
	return me
}

// TestWriterDownError: with the writer refusing connections, a write
// waits failover_buffer and gets an error naming the hostgroup, the wait
// and the condition, without the backend's address; the address and the
// Go error are in the log once, at Warn, without a stack trace.
func TestWriterDownError(t *testing.T) {
	port := closedPort(t)
	p := writerAt(t, port, "failover_buffer: 1s\npool: { connect_timeout: 1s }\n")
	db := openDB(t, p.addr)
	_, err := db.Exec("INSERT INTO app.t VALUES (1)")
	me := mysqlErr(t, err)
	require.Equal(t, uint16(9001), me.Number)
	require.Equal(t, "rwproxy: no writer available in hostgroup 10 after waiting 1.0s (last attempt: connection refused)", me.Message)
	require.NotContains(t, me.Message, strconv.Itoa(port))
	// Reads still work on the replicas (a login without a schema needs
	// no writer).
	noSchema, err := sql.Open("mysql", "app:app@tcp("+p.addr+")/?timeout=5s")
	require.NoError(t, err)
	defer noSchema.Close()
	got := ports(t, noSchema, 4)
	require.Zero(t, got[port])

	log := p.log(t)
	require.Contains(t, log, `"msg":"no writer available: statement failed"`)
	require.Contains(t, log, fmt.Sprintf("127.0.0.1:%d", port), "the detail is in the log")
	require.NotContains(t, log, "stacktrace", "no stack trace for a backend that is down")
	require.NotContains(t, log, "errorVerbose", "no Go stack of a wrapped error either")
}

// TestBlackHoledWriter: a writer that accepts and never answers gives a
// timeout named as such, not Go library text.
func TestBlackHoledWriter(t *testing.T) {
	port := blackHole(t)
	p := writerAt(t, port, "failover_buffer: 0s\npool: { connect_timeout: 1s }\n")
	db := openDB(t, p.addr)
	_, err := db.Exec("INSERT INTO app.t VALUES (1)")
	me := mysqlErr(t, err)
	require.Equal(t, uint16(9002), me.Number)
	require.Equal(t, "rwproxy: cannot connect to a server of hostgroup 10: connect timed out (pool.connect_timeout)", me.Message)
	require.NotContains(t, me.Message, "readInitialHandshake")
	require.Contains(t, p.log(t), `"msg":"cannot connect to backend"`)
	require.NotContains(t, p.log(t), "stacktrace")
}

// TestWrongPasswordVsBackendDown: a wrong password, an unknown user and a
// login naming a schema while the writer is down are counted under their
// own names (admin and /metrics) and logged at Warn with user and client
// address.
func TestWrongPasswordVsBackendDown(t *testing.T) {
	p := writerAt(t, closedPort(t), "failover_buffer: 500ms\npool: { connect_timeout: 1s }\n")
	login := func(user, pass, schema string) error {
		db, err := sql.Open("mysql", user+":"+pass+"@tcp("+p.addr+")/"+schema+"?timeout=5s")
		require.NoError(t, err)
		defer db.Close()
		return db.Ping()
	}
	err := login("app", "wrong", "")
	require.Equal(t, uint16(1045), mysqlErr(t, err).Number)
	err = login("nobody", "x", "")
	require.Equal(t, uint16(1045), mysqlErr(t, err).Number)
	err = login("app", "app", "app")
	me := mysqlErr(t, err)
	require.Equal(t, uint16(9001), me.Number, me.Message)
	require.Contains(t, me.Message, "no writer available in hostgroup 10")
	require.NoError(t, login("app", "app", ""), "the right password without a schema needs no backend")

	adm := adminDB(t, p, "admin")
	stat := func(name string) string {
		return value(t, adm, "SELECT variable_value FROM stats_mysql_global WHERE variable_name='"+name+"'")
	}
	require.Equal(t, "1", stat("Access_Denied_Wrong_Password"))
	require.Equal(t, "1", stat("Access_Denied_Unknown_User"))
	require.Equal(t, "1", stat("Login_Failures_Backend_Unavailable"))
	require.Equal(t, "3", stat("Login_Failures_Total"))
	metrics := httpGet(t, "http://"+p.http+"/metrics")
	require.Contains(t, metrics, `rwproxy_client_login_failures_total{reason="wrong_password"} 1`)
	require.Contains(t, metrics, `rwproxy_client_login_failures_total{reason="backend_unavailable"} 1`)
	log := p.log(t)
	require.Contains(t, log, `"msg":"client login refused","reason":"wrong_password","user":"app","client_addr":"127.0.0.1:`)
	require.Contains(t, log, `"msg":"client login refused","reason":"unknown_user","user":"nobody"`)
	require.Contains(t, log, `"msg":"client login refused","reason":"backend_unavailable","user":"app"`)
	require.True(t, strings.Contains(log, `"level":"warn","ts"`), "refused logins are logged at warn")
}
