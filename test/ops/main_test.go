// Package ops tests rwproxy the way an operator runs it: the real binary
// with a YAML file, signals (SIGTERM drain, SIGHUP reload) and the file
// watch, in front of its own MariaDB sandbox.
package ops

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit"
)

var (
	sb  *testkit.Sandbox
	bin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rwproxy-ops-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "rwproxy")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/rwproxy").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "ops: build: %v\n%s", err, out)
		return 1
	}
	if sb, err = testkit.StartSandbox(basePort()); err != nil {
		fmt.Fprintln(os.Stderr, "ops: cannot start the sandbox:", err)
		return 1
	}
	defer func() { _ = sb.Stop() }()
	return m.Run()
}

func basePort() int {
	var p int
	if _, err := fmt.Sscan(os.Getenv("RWPROXY_OPS_BASE_PORT"), &p); err == nil && p > 0 {
		return p
	}
	return 24100
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proxy is one rwproxy process.
type proxy struct {
	cmd                  *exec.Cmd
	cfg                  string
	addr                 string
	admin, http, datadir string
	logf                 string
	exited               chan error
}

// render is the proxy's configuration with the replicas' weights w2, w3.
func (p *proxy) render(w2, w3 int) string {
	return yamlConfig(p.addr, p.admin, p.http, p.datadir, w2, w3, "")
}

// yaml renders the configuration with the replicas' weights w2, w3.
func yamlConfig(listen, admin, httpAddr, datadir string, w2, w3 int, extra string) string {
	return fmt.Sprintf(`listen: %s
shutdown_timeout: 10s
admin: { listen: %s, username: admin, password: admin, datadir: %s }
http: { listen: %s }
monitor: { username: monitor, password: monitor, interval: 500ms }
users:
  - { username: app, password: app, default_hostgroup: 10 }
servers:
  - { hostgroup: 10, host: 127.0.0.1, port: %d, weight: 1 }
  - { hostgroup: 20, host: 127.0.0.1, port: %d, weight: %d }
  - { hostgroup: 20, host: 127.0.0.1, port: %d, weight: %d }
replication_hostgroups:
  - { writer_hostgroup: 10, reader_hostgroup: 20 }
%s`, listen, admin, datadir, httpAddr, sb.Ports[0], sb.Ports[1], w2, sb.Ports[2], w3, extra)
}

func startProxy(t *testing.T, w2, w3 int) *proxy {
	t.Helper()
	dir := t.TempDir()
	p := &proxy{cfg: filepath.Join(dir, "rwproxy.yaml"), logf: filepath.Join(dir, "rwproxy.log"),
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), exited: make(chan error, 1)}
	p.admin, p.http = fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.datadir = filepath.Join(dir, "data")
	p.write(t, p.render(w2, w3))
	logFile, err := os.Create(p.logf)
	require.NoError(t, err)
	p.cmd = exec.Command(bin, "--config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	require.NoError(t, p.cmd.Start())
	go func() { p.exited <- p.cmd.Wait(); close(p.exited); _ = logFile.Close() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited // closed once the process is gone, even if a test read the result
		if t.Failed() {
			b, _ := os.ReadFile(p.logf)
			t.Logf("rwproxy log:\n%s", b)
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", p.addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "rwproxy listens")
	return p
}

func (p *proxy) write(t *testing.T, s string) {
	t.Helper()
	tmp := p.cfg + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(s), 0o600))
	require.NoError(t, os.Rename(tmp, p.cfg))
}

func (p *proxy) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(s))
}

func (p *proxy) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.logf)
	require.NoError(t, err)
	return string(b)
}

func openDB(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", "app:app@tcp("+addr+")/app?timeout=5s")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// ports counts which server answered n reads of @@port.
func ports(t *testing.T, db *sql.DB, n int) map[int]int {
	t.Helper()
	got := map[int]int{}
	for i := 0; i < n; i++ {
		var p int
		require.NoError(t, db.QueryRow("SELECT @@port").Scan(&p))
		got[p]++
	}
	return got
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
