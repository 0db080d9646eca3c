package monitor

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// Each monitor connect is logged (monitor.mysql_server_connect_log): a
// successful one once, a refused one at each attempt, with its error.
func TestConnectLog(t *testing.T) {
	leakCheck(t)
	f := newFakeMember(t, memberState{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	c := pairCfg(f)
	c.Servers = append(c.Servers, config.Server{Hostgroup: 20, Host: "127.0.0.1",
		Port: ln.Addr().(*net.TCPAddr).Port, Weight: 1, Status: config.StatusOnline, MaxConnections: 10})
	m, _ := start(t, c)
	eventuallyState(t, m, 20, refused, topology.StateShunned)
	require.Eventually(t, func() bool {
		var failed int
		for _, e := range m.Log(KindConnect, 0) {
			if e.Addr == refused {
				failed++
			}
		}
		return failed >= 2
	}, waitFor, 5*time.Millisecond, "a refused connect is logged at every attempt")
	var ok, failed []LogEntry
	for _, e := range m.Log(KindConnect, 0) {
		switch e.Addr {
		case f.addr:
			ok = append(ok, e)
		case refused:
			failed = append(failed, e)
		}
	}
	require.Len(t, ok, 1, "the monitor keeps its connection to a healthy server")
	require.Equal(t, "ok", ok[0].Result)
	require.Empty(t, ok[0].Error)
	for _, e := range failed {
		require.Empty(t, e.Result)
		require.Contains(t, e.Error, "connect")
	}
}
