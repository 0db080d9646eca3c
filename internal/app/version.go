package app

import (
	"context"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/topology"
)

// fallbackVersion is announced when no backend answers at start.
const fallbackVersion = "8.0.36-rwproxy"

// probeVersion asks the first reachable server of the first user's default
// hostgroup for its version, so that clients see the real server's
// version (drivers switch features on it), with the monitor credentials.
func probeVersion(c *config.Config) string {
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
		bc, err := pool.Connect(ctx, topology.Addr(s.Host, s.Port), c.Monitor.Username,
			c.Monitor.Password, pool.DeadlineDialer(deadline))
		cancel()
		if err != nil {
			continue
		}
		v := bc.GetServerVersion()
		_ = bc.Close()
		if v != "" {
			return v
		}
	}
	return fallbackVersion
}
