package integration

import (
	"cmp"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/internal/testkit/freeport"
)

// clSchema is the cluster test's schema.
const clSchema = "clustertest"

// clNode is one rwproxy of the test cluster, with its admin interface:
// in this process (app set) or a separate rwproxy process.
type clNode struct {
	name       string
	clientAddr string
	adminAddr  string
	adminPass  string   // "" means the default, admin
	app        *app.App // nil for a separate process
	admin      *sql.DB
}

// clStart starts rwproxy node i (1-based) in front of the sandbox as
// cmd/rwproxy does: bootstrap from datadir, proxy, admin interface, then
// the cluster node (gossip on a free loopback port), joining join.
func clStart(t *testing.T, i int, join ...string) *clNode {
	t.Helper()
	dir := t.TempDir()
	yaml := testkit.SandboxConfig(sb)
	yaml.Admin.Listen, yaml.Admin.Datadir = "127.0.0.1:0", dir
	yaml.Cluster.Enabled = true
	yaml.Cluster.Bind = "127.0.0.1:0"
	yaml.Cluster.NodeName = fmt.Sprintf("it-node%d", i)
	yaml.Cluster.Join = join
	cfg, err := admin.Bootstrap(dir, yaml, false)
	require.NoError(t, err)
	a, err := app.New(cfg, zaptest.NewLogger(t).Named(yaml.Cluster.NodeName))
	require.NoError(t, err)
	require.NoError(t, a.Start(app.WithCluster(), app.WithAdmin("")))
	n := &clNode{name: yaml.Cluster.NodeName, app: a, clientAddr: a.Addr(), adminAddr: a.AdminAddr()}
	t.Cleanup(func() {
		if n.admin != nil {
			_ = n.admin.Close()
		}
		require.NoError(t, a.CloseCluster())
		require.NoError(t, a.CloseAdmin())
		_ = a.Close()
	})
	require.NotNil(t, a.Cluster(), "cluster.enabled starts a node")
	n.admin, err = sql.Open("mysql", fmt.Sprintf("admin:admin@tcp(%s)/", a.AdminAddr()))
	require.NoError(t, err)
	require.NoError(t, n.admin.Ping())
	return n
}

// weight reads a server's weight from the node's runtime_mysql_servers.
func (n *clNode) weight(t *testing.T, port int) string {
	t.Helper()
	var w string
	err := n.admin.QueryRow("SELECT weight FROM runtime_mysql_servers WHERE port = " + strconv.Itoa(port)).Scan(&w)
	require.NoError(t, err)
	return w
}

func clSetupSchema(t *testing.T) {
	t.Helper()
	createSchema(t, clSchema, []string{"CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_100"})
}

// clComSelect reads Com_select on sandbox nodes 1..3 directly.
func clComSelect(t *testing.T, direct [3]*sql.DB) [3]int64 {
	t.Helper()
	var out [3]int64
	for i, db := range direct {
		var name string
		require.NoError(t, db.QueryRow("SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&name, &out[i]))
	}
	return out
}

// clReads runs n point reads through the proxy at addr and returns the
// Com_select increase of each sandbox node meanwhile.
func clReads(t *testing.T, addr string, direct [3]*sql.DB, n int) [3]int64 {
	t.Helper()
	db := openDB(t, dsn(addr, "app", clSchema))
	before := clComSelect(t, direct)
	for i := range n {
		var v int
		require.NoError(t, db.QueryRow("SELECT v FROM t WHERE id = "+strconv.Itoa(i%100+1)).Scan(&v))
	}
	after := clComSelect(t, direct)
	_ = db.Close()
	return [3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
}

// TestClusterConfigPropagates: three rwproxy nodes in front of the
// sandbox form a cluster; a weight change made through node 1's admin
// port (mariadb CLI, LOAD MYSQL SERVERS TO RUNTIME) shows in every node's
// runtime_mysql_servers within 5 s, and nodes 2 and 3 route by it.
func TestClusterConfigPropagates(t *testing.T) {
	needSandbox(t, "mariadb")
	clSetupSchema(t)
	n1 := clStart(t, 1)
	seed := n1.app.Cluster().Addr()
	nodes := []*clNode{n1, clStart(t, 2, seed), clStart(t, 3, seed)}
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			alive := 0
			for _, m := range n.app.Cluster().Members() {
				if m.State == cluster.StateAlive {
					alive++
				}
			}
			if alive != len(nodes) {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "the three nodes did not form a cluster")

	clCheckPropagation(t, nodes)

	// cluster.save_to_disk: the adopting nodes saved the change to DISK.
	for _, n := range nodes[1:] {
		require.Eventually(t, func() bool {
			var w string
			err := n.admin.QueryRow("SELECT weight FROM disk.mysql_servers WHERE port = " + strconv.Itoa(sb.Ports[2])).Scan(&w)
			return err == nil && w == "9"
		}, 30*time.Second, 50*time.Millisecond, "%s saved the adopted servers to disk", n.name)
	}

	// Every node's checksum table agrees: one version, made by node 1.
	want := nodes[0].app.Cluster().Modules()[0]
	require.Equal(t, cluster.ModuleServers, want.Module)
	require.Equal(t, "it-node1", want.Origin)
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			rows := n.app.Cluster().Modules()
			if len(rows) != len(nodes)*len(cluster.ModuleNames()) {
				return false
			}
			for _, r := range rows {
				if r.Module == cluster.ModuleServers && (r.Checksum != want.Checksum || r.Version != want.Version) {
					return false
				}
			}
			return true
		}, 30*time.Second, 50*time.Millisecond, "%s checksum table: %+v", n.name, n.app.Cluster().Modules())
	}
	// The same, as a DBA reads it on the admin port.
	for _, n := range nodes {
		var alive, checksums int
		require.NoError(t, n.admin.QueryRow("SELECT COUNT(*) FROM cluster_nodes WHERE state = 'alive'").Scan(&alive))
		require.Equal(t, len(nodes), alive, "%s cluster_nodes", n.name)
		require.NoError(t, n.admin.QueryRow(
			"SELECT COUNT(DISTINCT checksum) FROM cluster_checksums WHERE module = 'servers'").Scan(&checksums))
		require.Equal(t, 1, checksums, "%s cluster_checksums: every node runs the same servers module", n.name)
	}
}

// clCheckPropagation makes a weight change through node 1's admin port
// with the mariadb CLI and checks that every node runs it within 5 s and
// that nodes 2 and 3 route reads by it (Com_select on the replicas).
func clCheckPropagation(t *testing.T, nodes []*clNode) {
	t.Helper()
	var direct [3]*sql.DB
	for i := range direct {
		direct[i] = openDB(t, dsn(sb.Addr(i+1), "app", ""))
	}
	replica2, replica3 := sb.Ports[1], sb.Ports[2]
	for _, n := range nodes[1:] {
		even := clReads(t, n.clientAddr, direct, 300)
		t.Logf("%s, weights 1:1 -> Com_select deltas %v", n.name, even)
	}

	pass := cmp.Or(nodes[0].adminPass, "admin")
	res := runCLI(t, nodes[0].adminAddr, "admin", pass,
		fmt.Sprintf("UPDATE mysql_servers SET weight=9 WHERE port=%d;\nLOAD MYSQL SERVERS TO RUNTIME;\n", replica3))
	require.NoError(t, res.err, "mariadb CLI: %s", res.stderr)
	start := time.Now()
	for _, n := range nodes {
		require.Eventually(t, func() bool { return n.weight(t, replica3) == "9" }, 30*time.Second, 10*time.Millisecond,
			"%s runtime_mysql_servers", n.name)
		t.Logf("%s runs weight 9 after %s", n.name, time.Since(start))
		require.Equal(t, "1", n.weight(t, replica2))
	}

	for _, n := range nodes[1:] {
		skewed := clReads(t, n.clientAddr, direct, 300)
		share := float64(skewed[2]) / float64(max(skewed[1]+skewed[2], 1))
		t.Logf("%s, weights 1:9 -> Com_select deltas %v, replica 3 share %.2f", n.name, skewed, share)
		require.Greater(t, share, 0.75, "%s does not route by the new weight", n.name)
		require.Less(t, skewed[0], int64(60), "reads stay on the replicas")
	}
}

// TestClusterProcesses runs the same check against three separate rwproxy
// processes (bin built from cmd/rwproxy, one generated YAML file each).
func TestClusterProcesses(t *testing.T) {
	needSandbox(t, "mariadb")
	require.True(t, clClusterWired(t), "cmd/rwproxy must start the cluster node")
	clSetupSchema(t)
	bin := filepath.Join(t.TempDir(), "rwproxy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rwproxy")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	var nodes []*clNode
	var seed string
	for i := 1; i <= 3; i++ {
		gossip := clFreePort(t)
		if i == 1 {
			seed = net.JoinHostPort("127.0.0.1", strconv.Itoa(gossip))
		}
		nodes = append(nodes, clStartProcess(t, bin, i, gossip, seed))
	}
	clCheckPropagation(t, nodes)
}

// clClusterWired reports whether the binary starts the cluster node.
func clClusterWired(t *testing.T) bool {
	t.Helper()
	for _, f := range []string{"cmd/rwproxy/main.go", "internal/app/app.go"} {
		src, err := os.ReadFile(filepath.Join("..", "..", f)) //nolint:gosec // repository file
		require.NoError(t, err)
		// app.WithCluster() asks App.Start for the node (cmd/rwproxy).
		if strings.Contains(string(src), "StartCluster(") || strings.Contains(string(src), "app.WithCluster()") {
			return true
		}
	}
	return false
}

// clFreePort returns a port free for both TCP and UDP on 127.0.0.1 to .3
// (the k8s test's pods share one gossip port on three addresses).
func clFreePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.OnAll("127.0.0.1", "127.0.0.2", "127.0.0.3")
	require.NoError(t, err)
	return p
}

// clStartProcess writes node i's configuration and runs rwproxy with it
// until the test ends (SIGTERM, then kill).
func clStartProcess(t *testing.T, bin string, i, gossip int, seed string) *clNode {
	t.Helper()
	dir := t.TempDir()
	client, adminPort := clFreePort(t), clFreePort(t)
	var servers strings.Builder
	for j, port := range sb.Ports {
		hg := 20
		if j == 0 {
			hg = 10
		}
		fmt.Fprintf(&servers, "  - { hostgroup: %d, host: 127.0.0.1, port: %d, max_replication_lag: 10 }\n", hg, port)
	}
	join := "[]"
	if i > 1 {
		join = "[" + seed + "]"
	}
	name := fmt.Sprintf("proc-node%d", i)
	yaml := fmt.Sprintf(`listen: 127.0.0.1:%d
log: { level: info, format: json }
admin: { listen: "127.0.0.1:%d", datadir: %q }
http: { listen: "" }
users:
  - { username: app, password: app, default_hostgroup: 10 }
servers:
%sreplication_hostgroups:
  - { writer_hostgroup: 10, reader_hostgroup: 20, check_type: read_only }
cluster:
  enabled: true
  bind: 127.0.0.1:%d
  node_name: %s
  join: %s
`, client, adminPort, dir, servers.String(), gossip, name, join)
	cfgPath := filepath.Join(dir, "rwproxy.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	logPath := filepath.Join(dir, "rwproxy.log")
	logf, err := os.Create(logPath) //nolint:gosec // test file
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config", cfgPath) //nolint:gosec // the binary built by the test
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
		if t.Failed() {
			raw, _ := os.ReadFile(logPath) //nolint:gosec // test file
			t.Logf("%s log (last 4 KB):\n%s", name, raw[max(0, len(raw)-4096):])
		}
	})
	n := &clNode{name: name, clientAddr: fmt.Sprintf("127.0.0.1:%d", client), adminAddr: fmt.Sprintf("127.0.0.1:%d", adminPort)}
	n.admin, err = sql.Open("mysql", fmt.Sprintf("admin:admin@tcp(%s)/", n.adminAddr))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.admin.Close() })
	require.Eventually(t, func() bool { return n.admin.Ping() == nil }, 30*time.Second, 50*time.Millisecond,
		"%s admin interface did not come up", name)
	return n
}
