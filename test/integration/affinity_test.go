package integration

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestSessionAffinity checks hostgroup_attributes[].affinity: with
// "statement" (the default) one connection's reads alternate between the
// replicas; with "session" they stay on one replica until it stops being
// usable (OFFLINE_SOFT through the admin interface), then move to the
// other; and sessions are still spread over both replicas.
func TestSessionAffinity(t *testing.T) {
	needSandbox(t)
	ctx := context.Background()
	start := func(affinity string) (*admProxy, *sql.DB) {
		dir := t.TempDir()
		cfg := admYAML(dir)
		cfg.HostgroupAttributes = []config.HostgroupAttributes{{HostgroupID: 20, Balance: config.BalanceWeightedRoundRobin, Affinity: affinity}}
		p := admStart(t, cfg, dir)
		return p, openDB(t, dsn(p.app.Addr(), "app", ""))
	}
	replicaPorts := map[int]bool{sb.Ports[1]: true, sb.Ports[2]: true}
	reads := func(c *sql.Conn, n int) map[int]int {
		seen := map[int]int{}
		for range n {
			var port int
			require.NoError(t, c.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
			require.True(t, replicaPorts[port], "a read went to port %d, not a replica", port)
			seen[port]++
		}
		return seen
	}

	_, perStatement := start(config.AffinityStatement)
	seen := reads(conn(t, perStatement), 20)
	require.Len(t, seen, 2, "affinity statement: one connection's reads go to both replicas: %v", seen)

	sessionProxy, perSession := start(config.AffinitySession)
	c := conn(t, perSession)
	seen = reads(c, 20)
	require.Len(t, seen, 1, "affinity session: one connection's reads stay on one replica: %v", seen)
	var kept int
	for p := range seen {
		kept = p
	}
	// Prepared statements follow the same server.
	st, err := c.PrepareContext(ctx, "SELECT @@port")
	require.NoError(t, err)
	for range 5 {
		var port int
		require.NoError(t, st.QueryRowContext(ctx).Scan(&port))
		require.Equal(t, kept, port, "a prepared read left the kept replica")
	}
	require.NoError(t, st.Close())

	// Sessions are spread: among eight connections both replicas serve some.
	sessions := map[int]bool{}
	for range 8 {
		for p := range reads(conn(t, perSession), 3) {
			sessions[p] = true
		}
	}
	require.Len(t, sessions, 2, "affinity session: sessions must still be spread over the replicas")

	// The kept replica goes OFFLINE_SOFT: the session moves to the other one
	// and stays there.
	sessionProxy.run(t, fmt.Sprintf("UPDATE mysql_servers SET status='OFFLINE_SOFT' WHERE hostgroup_id=20 AND port=%d", kept),
		"LOAD MYSQL SERVERS TO RUNTIME")
	seen = reads(c, 10)
	require.Len(t, seen, 1, "after OFFLINE_SOFT: %v", seen)
	require.Zero(t, seen[kept], "reads still go to the OFFLINE_SOFT replica %d: %v", kept, seen)
}
