package monitor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// ProxySQL's check_type combinations: "|" is read-only when either
// variable is ON, "&" only when both are; unknown until every one is seen.
func TestReadOnlyCheckTypeCombinations(t *testing.T) {
	h := newHealth()
	_, known := h.readOnly(config.CheckReadOnlyOrInnodb)
	require.False(t, known)
	h.ro = map[string]bool{"read_only": false}
	_, known = h.readOnly(config.CheckReadOnlyAndInnodb)
	require.False(t, known, "innodb_read_only not seen yet")
	h.ro["innodb_read_only"] = true
	ro, known := h.readOnly(config.CheckReadOnlyOrInnodb)
	require.True(t, known)
	require.True(t, ro)
	ro, _ = h.readOnly(config.CheckReadOnlyAndInnodb)
	require.False(t, ro)
	h.ro["read_only"] = true
	ro, _ = h.readOnly(config.CheckReadOnlyAndInnodb)
	require.True(t, ro)
	ro, _ = h.readOnly("")
	require.True(t, ro, "empty is read_only")
}

// mysql_servers.max_latency_ms: a reader whose last ping took longer is
// shunned; a writer is not; 0 disables the check.
func TestMaxLatencyShunsReaders(t *testing.T) {
	h := newHealth()
	h.observePing(nil, 30*time.Millisecond, time.Now(), 3)
	e := config.Server{Status: config.StatusOnline, MaxLatency: 20 * time.Millisecond}
	st, why := stateOf(h, e, 20, 0, true)
	require.Equal(t, topology.StateShunned, st)
	require.Contains(t, why, "max_latency_ms 20")
	st, _ = stateOf(h, e, 10, 0, false)
	require.Equal(t, topology.StateOnline, st)
	e.MaxLatency = 50 * time.Millisecond
	st, _ = stateOf(h, e, 20, 0, true)
	require.Equal(t, topology.StateOnline, st)
	e.MaxLatency = 0
	st, _ = stateOf(h, e, 20, 0, true)
	require.Equal(t, topology.StateOnline, st)
}
