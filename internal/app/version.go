package app

import (
	"context"

	"github.com/go-mysql-org/go-mysql/client"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/topology"
)

// fallbackVersion is announced when no backend answers at start.
const fallbackVersion = "8.0.36-rwproxy"

// probeVersion asks the first reachable server of the first user's default
// hostgroup for its version, so that clients see the real server's
// version (drivers switch features on it), with the monitor credentials
// and the TLS a data connection to that server would use (tlsFor). Each
// failure is logged: a fallback version hides what the server refused.
func probeVersion(c *config.Config, tlsFor pool.TLSFunc, lg *zap.Logger) string {
	if len(c.Users) == 0 {
		return fallbackVersion
	}
	hg := c.Users[0].DefaultHostgroup
	for _, s := range c.Servers {
		if s.Hostgroup != hg {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.Pool.ConnectTimeout)
		deadline, _ := ctx.Deadline()
		addr := topology.Addr(s.Host, s.Port)
		bc, err := pool.Connect(ctx, addr, c.Monitor.Username, c.Monitor.Password, pool.DeadlineDialer(deadline),
			func(cc *client.Conn) error { return tlsFor.Apply(cc, addr) })
		cancel()
		if err != nil {
			lg.Warn("version probe failed", zap.String("backend_addr", addr), zap.Error(err))
			continue
		}
		v := bc.GetServerVersion()
		_ = bc.Close()
		if v != "" {
			return v
		}
	}
	lg.Warn("no server answered the version probe: announcing the fallback version",
		zap.Int("hostgroup", hg), zap.String("version", fallbackVersion))
	return fallbackVersion
}
