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
	"sync/atomic"
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
	if opsBase, err = testkit.BasePort("RWPROXY_OPS_BASE_PORT", 24100, 60); err != nil {
		fmt.Fprintln(os.Stderr, "ops:", err)
		return 1
	}
	if sb, err = testkit.StartSandbox(basePort()); err != nil {
		fmt.Fprintln(os.Stderr, "ops: cannot start the sandbox:", err)
		return 1
	}
	defer func() { _ = sb.Stop() }()
	return m.Run()
}

// opsBase is the package's first port: 24100 unless RWPROXY_OPS_BASE_PORT
// says another (run sets it).
var opsBase int

func basePort() int { return opsBase }

// nextPort hands out the ports of this package's proxies from its own
// range (RWPROXY_OPS_BASE_PORT+10 ... +59), skipping ports in use.
var nextPort atomic.Int32

func freePort(t *testing.T) int {
	t.Helper()
	base := basePort() + 10
	for range 50 {
		p := base + int(nextPort.Add(1)-1)%50
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("no free port in the ops range")
	return 0
}

// proxy is one rwproxy process (and, across restarts, its files and ports).
type proxy struct {
	cmd                  *exec.Cmd
	cfg                  string
	addr                 string
	admin, http, datadir string
	logf                 string
	// extra is appended to the rendered configuration (config_source, ...).
	extra  string
	exited chan error
}

// render is the proxy's configuration with the replicas' weights w2, w3.
func (p *proxy) render(w2, w3 int) string {
	return yamlConfig(p.addr, p.admin, p.http, p.datadir, w2, w3, p.extra)
}

// yaml renders the configuration with the replicas' weights w2, w3. The
// monitor's timeout is 5 s: a check that merely ran slow on a loaded
// machine must not shun a replica and move the reads the tests count.
func yamlConfig(listen, admin, httpAddr, datadir string, w2, w3 int, extra string) string {
	return fmt.Sprintf(`listen: %s
shutdown_timeout: 10s
admin: { listen: %s, username: admin, password: admin, datadir: %s }
http: { listen: %s }
monitor: { username: monitor, password: monitor, interval: 500ms, timeout: 5s }
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

// newProxy allocates a proxy's ports and files (nothing runs yet).
func newProxy(t *testing.T, extra string) *proxy {
	t.Helper()
	dir := t.TempDir()
	p := &proxy{cfg: filepath.Join(dir, "rwproxy.yaml"), logf: filepath.Join(dir, "rwproxy.log"),
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), extra: extra}
	p.admin, p.http = fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.datadir = filepath.Join(dir, "data")
	return p
}

func startProxy(t *testing.T, w2, w3 int) *proxy {
	t.Helper()
	p := newProxy(t, "")
	p.write(t, p.render(w2, w3))
	p.start(t, nil)
	return p
}

// launch starts the binary with env added to the environment and args
// after --config; its output is appended to p.logf.
func (p *proxy) launch(t *testing.T, env []string, args ...string) {
	t.Helper()
	logFile, err := os.OpenFile(p.logf, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	p.cmd = exec.Command(bin, append([]string{"--config", p.cfg}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	require.NoError(t, p.cmd.Start())
	exited := make(chan error, 1)
	p.exited = exited
	cmd := p.cmd
	go func() { exited <- cmd.Wait(); close(exited); _ = logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited // closed once the process is gone, even if a test read the result
		if t.Failed() {
			b, _ := os.ReadFile(p.logf)
			t.Logf("rwproxy log:\n%s", b)
		}
	})
}

// start launches the proxy and waits until it serves clients (the client
// listener opens before the others but serves after them: the log line
// "rwproxy listening" comes last).
func (p *proxy) start(t *testing.T, env []string, args ...string) {
	t.Helper()
	before := len(p.logText())
	p.launch(t, env, args...)
	require.Eventually(t, func() bool {
		return strings.Contains(p.logText()[before:], `"msg":"rwproxy listening"`)
	}, 30*time.Second, 50*time.Millisecond, "rwproxy serves")
}

func (p *proxy) logText() string {
	b, _ := os.ReadFile(p.logf)
	return string(b)
}

// stop sends SIGTERM and waits for the process to exit.
func (p *proxy) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("rwproxy did not exit after SIGTERM")
	}
}

// waitExit waits for a process expected to fail at start and returns its
// exit error.
func (p *proxy) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("rwproxy did not exit")
	}
	return nil
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
