package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/internal/tunnel"
)

// balSchema holds the one-row table the balancing test reads.
const balSchema = "rwbalance"

// balDelay is the latency the slowed replica's tunnel adds to each chunk
// of bytes the replica sends, so to every response. A point select
// through the proxy takes well under a millisecond on an idle machine,
// but several under -race on a loaded one: the delay must dwarf that.
const balDelay = 20 * time.Millisecond

// TestBalanceAdaptive slows one replica down (a TCP tunnel in front of
// node 3 that delays its responses; node 2 has an undelayed one) and checks that the adaptive balancer
// sends it clearly less than its static share while weighted round-robin
// keeps the static share, and that once the slowdown stops the adaptive
// share returns to the static weights. Shares are counted from @@port in
// the results.
func TestBalanceAdaptive(t *testing.T) {
	needSandbox(t)
	d := openDB(t, dsn(primary(), "app", ""))
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + balSchema,
		"CREATE TABLE IF NOT EXISTS " + balSchema + ".t (id INT PRIMARY KEY)",
		"INSERT IGNORE INTO " + balSchema + ".t VALUES (1)",
	} {
		_, err := d.ExecContext(context.Background(), q)
		require.NoError(t, err, q)
	}
	_, err := sb.Run("sync")
	require.NoError(t, err)

	// Both replicas behind a tunnel, so that they pay the same extra hop;
	// only node 3's ever delays.
	tun2, tun := balTunnel(t, sb.Addr(2)), balTunnel(t, sb.Addr(3))
	proxy := func(balance string) *app.App {
		cfg := testkit.SandboxConfig(sb)
		cfg.Servers[1].Port, cfg.Servers[2].Port = tun2.Port(), tun.Port()
		cfg.HostgroupAttributes = []config.HostgroupAttributes{{HostgroupID: 20, Balance: balance}}
		return testkit.StartProxy(t, cfg)
	}
	wrr, adaptive := proxy(config.BalanceWeightedRoundRobin), proxy(config.BalanceAdaptive)
	wrrDB := openDB(t, dsn(wrr.Addr(), "app", balSchema))
	adDB := openDB(t, dsn(adaptive.Addr(), "app", balSchema))

	// Both replicas fast: both algorithms give the static 1:1 shares, once
	// the pools have their connections (the first responses on a new
	// connection are slower and would skew the adaptive averages).
	balShare(t, wrrDB, time.Second)
	balShare(t, adDB, time.Second)
	require.InDelta(t, 0.5, balShare(t, wrrDB, time.Second), 0.05, "weighted_round_robin, no slowdown")
	require.InDelta(t, 0.5, balShare(t, adDB, 2*time.Second), 0.15, "adaptive, no slowdown")

	tun.SetDelay(balDelay)
	share := balShare(t, wrrDB, 2*time.Second)
	t.Logf("node 3 slowed by %v per response: weighted_round_robin gives it %.1f%%", balDelay, 100*share)
	require.InDelta(t, 0.5, share, 0.05, "weighted_round_robin keeps the static share")

	balShare(t, adDB, time.Second) // the averages follow the slowdown
	share = balShare(t, adDB, 3*time.Second)
	t.Logf("adaptive gives it %.1f%%; balancer stats: %+v", 100*share, adaptive.BalanceStats())
	require.Less(t, share, 0.3, "adaptive must send the slow replica clearly less than its static 50%")
	balCheckVisible(t, adaptive, tun.Port())
	require.Positive(t, share, "adaptive must keep probing the slow replica")

	tun.SetDelay(0)
	start := time.Now()
	var shares []float64
	for time.Since(start) < 20*time.Second {
		share = balShare(t, adDB, time.Second)
		shares = append(shares, share)
		if share > 0.4 {
			break
		}
	}
	t.Logf("after the slowdown: adaptive shares per second %.2f; back after %v", shares, time.Since(start).Round(time.Second))
	require.Greater(t, share, 0.4, "the adaptive share must return to the static 50%% once the replica is fast again")
	share = balShare(t, adDB, 2*time.Second)
	t.Logf("steady state after recovery: %.1f%%; stats: %+v", 100*share, adaptive.BalanceStats())
	require.InDelta(t, 0.5, share, 0.15)
}

// balShare runs point selects through db from 8 sessions for dur and
// returns the share node 3 served.
func balShare(t *testing.T, db *sql.DB, dur time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		mu     sync.Mutex
		byNode = map[int]int{}
		errs   []error
		wg     sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			c, err := db.Conn(context.Background())
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			defer c.Close()
			for ctx.Err() == nil {
				var id, port int
				// No ctx on the query: a canceled query would leave a
				// half-read response behind.
				err := c.QueryRowContext(context.Background(), "SELECT id, @@port FROM t WHERE id = 1").Scan(&id, &port)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					byNode[nodeOf(port)]++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Zero(t, byNode[1], "reads went to the writer: %v", byNode)
	require.Zero(t, byNode[0], "reads from an unknown port: %v", byNode)
	total := byNode[2] + byNode[3]
	require.Positive(t, total)
	return float64(byNode[3]) / float64(total)
}

// balTunnel starts a tunnel to target on a free loopback port; it is
// closed when the test ends.
func balTunnel(t *testing.T, target string) *tunnel.Tunnel {
	t.Helper()
	tu, err := tunnel.Start(target)
	require.NoError(t, err)
	t.Cleanup(tu.Close)
	return tu
}

// balCheckVisible checks that the admin interface and /metrics show the
// slowed server's lower effective weight and higher latency average.
func balCheckVisible(t *testing.T, a *app.App, slowPort int) {
	t.Helper()
	require.NoError(t, a.StartAdmin(""))
	adm, err := sql.Open("mysql", fmt.Sprintf("admin:admin@tcp(%s)/", a.AdminAddr()))
	require.NoError(t, err)
	defer adm.Close()
	var slowW, fastW, slowLat, fastLat float64
	q := "SELECT effective_weight, latency_avg_us FROM stats_mysql_balance WHERE hostgroup = 20 AND srv_port %s %d"
	require.NoError(t, adm.QueryRow(fmt.Sprintf(q, "=", slowPort)).Scan(&slowW, &slowLat))
	require.NoError(t, adm.QueryRow(fmt.Sprintf(q, "<>", slowPort)).Scan(&fastW, &fastLat))
	require.Less(t, slowW, fastW, "stats_mysql_balance: the slow server's effective weight")
	require.Greater(t, slowLat, fastLat, "stats_mysql_balance: the slow server's latency average")

	require.NoError(t, a.StartHTTP(app.HTTPOptions{Listen: "127.0.0.1:0"}))
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "rwproxy_backend_effective_weight{")
	require.Contains(t, string(body), "rwproxy_backend_latency_average_seconds{")
}
