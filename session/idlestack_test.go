//go:build !race

// The race detector doubles the stack guard and enlarges frames: stack
// sizes are measured without it.

package session

import (
	"runtime"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestIdleSessionStack: once collections have run, an idle logged-in
// session's goroutine holds a 4 KiB stack, not the 8 KiB its handshake
// grew (session.run: the frames on the stack while it waits must stay
// under 1248 bytes). Ten thousand idle clients: 40 MiB.
func TestIdleSessionStack(t *testing.T) {
	const n = 200
	cfg := config.Defaults()
	cfg.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	d, addr := loginDeps(t, cfg)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*client.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range n {
		c, err := client.Connect(addr, "app", "app", "", func(c *client.Conn) error {
			c.SetTLSConfig(nil)
			return nil
		})
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return d.Stats.Sessions.Load() == n }, 30*time.Second, time.Millisecond)
	// A collection halves a stack at most once: two bring 8 KiB to 4.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("stack per idle session: %.0f bytes", per)
	require.Less(t, per, 6.0*1024, "an idle session's goroutine should hold a 4 KiB stack")
}
