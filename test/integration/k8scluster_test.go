package integration

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
)

// k8sConfig is the configuration the Kubernetes manifests give every pod
// (the ConfigMap's file, deploy/kubernetes/base/rwproxy.yaml).
var k8sConfig = filepath.Join("..", "..", "deploy", "kubernetes", "base", "rwproxy.yaml")

// dnsTable is a cluster.Resolver answering from a fixed table, as the
// cluster's DNS answers for a headless Service: every pod's IP.
type dnsTable struct {
	mu      sync.Mutex
	hosts   map[string][]string
	lookups int
}

func (d *dnsTable) LookupHost(_ context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if ips, ok := d.hosts[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestKubernetesManifestCluster starts three rwproxy nodes the way
// deploy/kubernetes starts its pods: the ConfigMap's configuration file,
// the Secret's values and the pod IP in the same RWPROXY_* variables, and
// cluster.join naming the headless Service, which resolves (through the
// resolver hook) to the three pods' addresses: 127.0.0.1, .2 and .3 on
// loopback, one gossip port for all, as pods share the container port.
// What loopback cannot reproduce is replaced: the backends are the
// sandbox's, the client and admin listeners take free ports, and the
// gossip port is a free one instead of 7946. The nodes must converge and
// serve: a change made on one node's admin interface routes reads on the
// others.
func TestKubernetesManifestCluster(t *testing.T) {
	needSandbox(t, "mariadb")
	clSetupSchema(t)
	// The Secret's values, as the Deployment passes them.
	secret := map[string]string{
		"RWPROXY_ADMIN_PASSWORD":   "k8s-admin-password",
		"RWPROXY_MONITOR_PASSWORD": testkit.SandboxConfig(sb).Monitor.Password,
		"RWPROXY_CLUSTER_SECRET":   "a long gossip passphrase from the Secret",
	}
	gossip := clFreePort(t)
	const svc = "rwproxy-gossip" // cluster.join's host in the ConfigMap
	dns := &dnsTable{hosts: map[string][]string{svc: {"127.0.0.1", "127.0.0.2", "127.0.0.3"}}}
	t.Cleanup(cluster.SetResolver(dns))

	var nodes []*clNode
	for i := 1; i <= 3; i++ {
		podIP := fmt.Sprintf("127.0.0.%d", i)
		for k, v := range secret {
			t.Setenv(k, v)
		}
		// RWPROXY_CLUSTER_ADVERTISE: $(POD_IP):<gossip port>
		t.Setenv("RWPROXY_CLUSTER_ADVERTISE", net.JoinHostPort(podIP, strconv.Itoa(gossip)))
		cfg, err := config.Load(k8sConfig)
		require.NoError(t, err, "the ConfigMap's configuration with the pod's environment")
		// The manifests' cluster settings, as loaded.
		require.True(t, cfg.Cluster.Enabled)
		require.Equal(t, []string{svc + ":7946"}, cfg.Cluster.Join)
		require.Equal(t, "0.0.0.0:7946", cfg.Cluster.Bind)
		require.Equal(t, secret["RWPROXY_CLUSTER_SECRET"], cfg.Cluster.Secret)
		require.Equal(t, secret["RWPROXY_ADMIN_PASSWORD"], cfg.Admin.Password)
		require.Empty(t, cfg.Cluster.NodeName, "node names default to <hostname>-<port>, the pod's name")

		// What loopback changes: one IP per pod instead of 0.0.0.0 in a
		// network namespace of its own, a free gossip port instead of 7946,
		// the sandbox's servers, free client and admin ports, a name per
		// node (every pod here has this host's hostname).
		cfg.Cluster.Bind = net.JoinHostPort(podIP, strconv.Itoa(gossip))
		cfg.Cluster.Join = []string{net.JoinHostPort(svc, strconv.Itoa(gossip))}
		cfg.Cluster.NodeName = fmt.Sprintf("rwproxy-pod%d", i)
		sbc := testkit.SandboxConfig(sb)
		cfg.Servers, cfg.Users, cfg.ReplicationHostgroups = sbc.Servers, sbc.Users, sbc.ReplicationHostgroups
		cfg.Listen, cfg.HTTP.Listen = "127.0.0.1:0", ""
		cfg.Admin.Listen, cfg.Admin.Datadir = "127.0.0.1:0", t.TempDir()
		require.NoError(t, cfg.Validate())
		nodes = append(nodes, k8sStart(t, cfg))
		for k := range secret {
			require.NoError(t, os.Unsetenv(k))
		}
	}
	// Converged: every node sees three alive members, at the pods' addresses.
	want := map[string]bool{}
	for i := 1; i <= 3; i++ {
		want[net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i), strconv.Itoa(gossip))] = true
	}
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			got := map[string]bool{}
			for _, m := range n.app.Cluster().Members() {
				if m.State == cluster.StateAlive {
					got[m.Addr] = true
				}
			}
			if !maps.Equal(got, want) {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "the three pods did not form a cluster through %s", svc)
	dns.mu.Lock()
	require.Positive(t, dns.lookups, "the nodes joined through the Service's name")
	dns.mu.Unlock()
	// Serves, and shares changes: reads through every node, a weight change
	// on node 1's admin port (the Secret's password) routes reads on 2 and 3.
	clCheckPropagation(t, nodes)
}

// k8sStart starts one node from cfg as cmd/rwproxy does (bootstrap,
// proxy, admin interface, cluster node).
func k8sStart(t *testing.T, cfg *config.Config) *clNode {
	t.Helper()
	cfg, err := admin.Bootstrap(cfg.Admin.Datadir, cfg, false)
	require.NoError(t, err)
	a, err := app.New(cfg, zaptest.NewLogger(t).Named(cfg.Cluster.NodeName))
	require.NoError(t, err)
	require.NoError(t, a.Start(app.WithCluster(), app.WithAdmin("")))
	n := &clNode{name: cfg.Cluster.NodeName, app: a, clientAddr: a.Addr(), adminAddr: a.AdminAddr(),
		adminPass: cfg.Admin.Password}
	t.Cleanup(func() {
		if n.admin != nil {
			_ = n.admin.Close()
		}
		require.NoError(t, a.CloseCluster())
		require.NoError(t, a.CloseAdmin())
		_ = a.Close()
	})
	require.NotNil(t, a.Cluster())
	n.admin, err = sql.Open("mysql", fmt.Sprintf("admin:%s@tcp(%s)/", cfg.Admin.Password, a.AdminAddr()))
	require.NoError(t, err)
	require.NoError(t, n.admin.Ping())
	return n
}
