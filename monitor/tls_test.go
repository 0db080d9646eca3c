package monitor

import (
	"crypto/tls"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/certs"
	"github.com/rwproxy/rwproxy/topology"
)

// TestPlanTLSKey: a server's checker is replaced when its use_tls or,
// for a TLS server, the tls.backend_* settings change; a plain server's
// checker does not care about tls.backend_*.
func TestPlanTLSKey(t *testing.T) {
	base := asyncCfg()
	withTLS := func(c *config.Config) { c.Servers[1].UseTLS = true }
	otherCA := func(c *config.Config) { c.TLS.BackendCA = "/other/ca.pem" }
	verifyHost := func(c *config.Config) { c.TLS.BackendVerifyHostname = !c.TLS.BackendVerifyHostname }
	for _, tc := range []struct {
		name        string
		from, to    []func(*config.Config)
		n1Restarted bool
		n2Restarted bool
	}{
		{name: "use_tls on", to: []func(*config.Config){withTLS}, n2Restarted: true},
		{name: "use_tls off", from: []func(*config.Config){withTLS}, n2Restarted: true},
		{name: "CA of a TLS server", from: []func(*config.Config){withTLS},
			to: []func(*config.Config){withTLS, otherCA}, n2Restarted: true},
		{name: "host name check of a TLS server", from: []func(*config.Config){withTLS},
			to: []func(*config.Config){withTLS, verifyHost}, n2Restarted: true},
		{name: "CA of plain servers only", to: []func(*config.Config){otherCA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			build := func(mods []func(*config.Config)) *plan {
				c := base.Clone()
				for _, m := range mods {
					m(c)
				}
				return newPlan(c)
			}
			from, to := build(tc.from), build(tc.to)
			require.Equal(t, tc.n1Restarted, from.spec(from.byAddr[n1]) != to.spec(to.byAddr[n1]), n1)
			require.Equal(t, tc.n2Restarted, from.spec(from.byAddr[n2]) != to.spec(to.byAddr[n2]), n2)
		})
	}
	p := newPlan(base)
	require.Equal(t, tlsKey{}, p.spec(p.byAddr[n2]).tls, "plain: zero key")
}

// TestMonitorTLS: a member that drops plain logins (as a server with
// require_secure_transport=ON) is shunned while its use_tls is off, and
// ONLINE over TLS once use_tls is on; turning it off again re-dials in
// plain text and shuns it again. The TLS settings come from the TLSFunc,
// which reads the current configuration as rwproxy's does.
func TestMonitorTLS(t *testing.T) {
	leakCheck(t)
	ca := certs.NewCA(t, "monitor test CA")
	srvTLS := &tls.Config{Certificates: []tls.Certificate{ca.TLSCert(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12}
	w := newFakeMember(t, memberState{})
	r := newFakeMember(t, memberState{readOnly: true, replicas: replicating(0), tls: srvTLS, requireTLS: true})

	var cur atomic.Pointer[config.Config]
	cfgWith := func(useTLS bool) *config.Config {
		c := pairCfg(w, r)
		c.Servers[1].UseTLS = useTLS
		require.NoError(t, c.Validate())
		cur.Store(c)
		return c
	}
	m := New(cfgWith(false), zaptest.NewLogger(t))
	m.SetTLS(func(addr string) (*tls.Config, error) {
		for _, s := range cur.Load().Servers {
			if s.UseTLS && topology.Addr(s.Host, s.Port) == addr {
				return &tls.Config{RootCAs: ca.Pool(), ServerName: s.Host, MinVersion: tls.VersionTLS12}, nil
			}
		}
		return nil, nil
	})
	m.Start()
	t.Cleanup(func() { require.NoError(t, m.Close()) })

	eventuallyState(t, m, 20, r.addr, topology.StateShunned)
	require.NotEmpty(t, serverHealth(m, r.addr).PingError)
	overTLS, plain := r.logins()
	require.Zero(t, overTLS)
	require.Positive(t, plain)
	require.Equal(t, topology.StateOnline, stateIn(m, 10, w.addr))

	m.Update(cfgWith(true))
	eventuallyState(t, m, 20, r.addr, topology.StateOnline)
	overTLS, _ = r.logins()
	require.Positive(t, overTLS)
	require.Empty(t, serverHealth(m, r.addr).PingError)
	wTLS, _ := w.logins()
	require.Zero(t, wTLS, "use_tls is per server")

	m.Update(cfgWith(false))
	eventuallyState(t, m, 20, r.addr, topology.StateShunned)
}

// serverHealth returns the monitor's view of addr.
func serverHealth(m *Monitor, addr string) ServerHealth {
	for _, s := range m.Servers() {
		if s.Addr == addr {
			return s
		}
	}
	return ServerHealth{}
}
