package ops

import (
	"database/sql"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clusterProxy starts the real binary as cluster node name, gossiping on
// its own port, joining join ("" for none).
func clusterProxy(t *testing.T, name, join string) (*proxy, string) {
	t.Helper()
	gossip := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	joins := "[]"
	if join != "" {
		joins = "[" + join + "]"
	}
	p := newProxy(t, fmt.Sprintf("cluster: { enabled: true, bind: %s, node_name: %s, join: %s, gossip_interval: 100ms }\n",
		gossip, name, joins))
	p.write(t, p.render(1, 1))
	p.start(t, nil)
	return p, gossip
}

func clusterState(t *testing.T, adm *sql.DB, name string) string {
	t.Helper()
	var st string
	if err := adm.QueryRow(fmt.Sprintf("SELECT state FROM cluster_nodes WHERE name = '%s'", name)).Scan(&st); err != nil {
		return ""
	}
	return st
}

func hasRuntimeUser(adm *sql.DB, name string) bool {
	var n int
	q := fmt.Sprintf("SELECT COUNT(*) FROM runtime_mysql_users WHERE username = '%s'", name)
	return adm.QueryRow(q).Scan(&n) == nil && n == 1
}

func addRuntimeUser(t *testing.T, adm *sql.DB, name string) {
	t.Helper()
	_, err := adm.Exec(fmt.Sprintf("INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('%s', 'pw', 10)", name))
	require.NoError(t, err)
	_, err = adm.Exec("LOAD MYSQL USERS TO RUNTIME")
	require.NoError(t, err)
}

// TestUpgradeKeepsClusterMember: the real binary, two cluster nodes; one
// is upgraded twice. The new process inherits the gossip port and goes on
// as the same member: the peer never logs the node leaving, failing or
// joining again, and configuration changes still converge both ways.
func TestUpgradeKeepsClusterMember(t *testing.T) {
	peer, peerGossip := clusterProxy(t, "peer", "")
	moving, _ := clusterProxy(t, "moving", peerGossip)
	peerAdm := adminDB(t, peer, "admin")
	require.Eventually(t, func() bool { return clusterState(t, peerAdm, "moving") == "alive" },
		30*time.Second, 50*time.Millisecond)

	pid := upgradeOnce(t, moving)
	require.Contains(t, moving.logText(), `"msg":"takeover: gossip port inherited"`)
	out, err := moving.upgrade(t)
	require.NoError(t, err, out)
	pids := moving.newPIDs()
	require.Len(t, pids, 2)
	killLater(t, pids[1])
	require.Eventually(t, func() bool { return !alive(pid) }, 30*time.Second, 20*time.Millisecond)

	movingAdm := adminDB(t, moving, "admin")
	addRuntimeUser(t, movingAdm, "after_upgrade")
	require.Eventually(t, func() bool { return hasRuntimeUser(peerAdm, "after_upgrade") }, 30*time.Second,
		50*time.Millisecond, "a change on the upgraded node reaches the peer")
	addRuntimeUser(t, peerAdm, "from_peer")
	require.Eventually(t, func() bool { return hasRuntimeUser(movingAdm, "from_peer") }, 30*time.Second,
		50*time.Millisecond, "a change on the peer reaches the upgraded node")

	require.Equal(t, "alive", clusterState(t, peerAdm, "moving"))
	log := peer.logText()
	require.NotRegexp(t, regexp.MustCompile(`"msg":"cluster member (left|failed)"[^\n]*"member":"moving"`), log)
	joins := regexp.MustCompile(`"msg":"cluster member joined"[^\n]*"member":"moving"`).FindAllString(log, -1)
	require.Len(t, joins, 1, "the peer saw the node join once, at its first start")
}
