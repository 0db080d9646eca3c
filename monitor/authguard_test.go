package monitor

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/topology"
)

// TestMonitorRefusesClearTextPlugin: the monitor's login never answers an
// auth switch to mysql_clear_password without TLS; it logs the refusal
// and the server counts as down.
func TestMonitorRefusesClearTextPlugin(t *testing.T) {
	leakCheck(t)
	sw := fakebackend.StartSwitcher(t, mysql.AUTH_CLEAR_PASSWORD, nil)
	w := newFakeMember(t, memberState{})
	c := pairCfg(w)
	c.Monitor.Password = "s3cret-monitor-pw"
	c.Servers = append(c.Servers, config.Server{Hostgroup: 20, Host: "127.0.0.1", Port: tcpPort(t, sw.Addr),
		Weight: 1, Status: config.StatusOnline, MaxConnections: 10})
	m, logs := start(t, c)
	eventuallyState(t, m, 20, sw.Addr, topology.StateShunned)
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("monitor login refused").Len() > 0 },
		30*time.Second, 5*time.Millisecond)
	require.NotEmpty(t, sw.Replies())
	for _, r := range sw.Replies() {
		require.Empty(t, r, "the monitor answered the switch to mysql_clear_password")
	}
}

func tcpPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}
