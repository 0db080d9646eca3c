package testkit

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
)

// SandboxConfig returns a proxy configuration in front of sb: hostgroup 10
// is node 1 (the primary), hostgroup 20 nodes 2 and 3; users app/app and
// app2/app2 default to hostgroup 10. The proxy listens on 127.0.0.1:0.
func SandboxConfig(sb *Sandbox) *config.Config {
	c := config.Defaults()
	c.Listen = "127.0.0.1:0"
	c.Users = []config.User{
		{Username: "app", Password: "app", DefaultHostgroup: 10},
		{Username: "app2", Password: "app2", DefaultHostgroup: 10},
	}
	c.Servers = nil
	for i, port := range sb.Ports {
		hg := 20
		if i == 0 {
			hg = 10
		}
		c.Servers = append(c.Servers, config.Server{Hostgroup: hg, Host: "127.0.0.1", Port: port,
			Weight: 1, Status: config.StatusOnline, MaxConnections: 200, MaxReplicationLag: 10})
	}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20, CheckType: "read_only"}}
	// The sandbox shares a loaded 2-core machine with the race-instrumented
	// test binary: a health or lag check that merely ran slow (the default
	// timeout is 800 ms) must not shun a replica mid-test, which moves
	// reads (balance shares, reader fallbacks). Tests that need a server
	// gone kill it (refused connections fail checks at once) or inject lag.
	c.Monitor.Timeout = 5 * time.Second
	c.FillDefaults()
	return c
}

// StartProxy starts an in-process rwproxy for cfg and closes it when the
// test ends, with the optional services opts (app.WithAdmin, ...). cfg
// must be valid.
func StartProxy(tb testing.TB, cfg *config.Config, opts ...app.Option) *app.App {
	tb.Helper()
	if d := config.Defaults(); cfg.Admin.Listen == d.Admin.Listen && cfg.Admin.Datadir == d.Admin.Datadir {
		// A test that starts the admin interface gets its own port and
		// data directory, never the defaults other runs may hold.
		cfg.Admin.Listen, cfg.Admin.Datadir = "127.0.0.1:0", tb.TempDir()
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("proxy config: %v", err)
	}
	a, err := app.New(cfg, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("start proxy: %v", err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	if err := a.Start(opts...); err != nil {
		tb.Fatalf("start proxy: %v", err)
	}
	return a
}
