package failover

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// TestLagMovesReads: under sysbench oltp_point_select and a writer loop
// through the proxy, node 2 applies the primary's events 30 s late. As the
// writes go on its lag grows past max_replication_lag (3 s); once the
// monitor has shunned it for that (SHUNNED_REPLICATION_LAG), the proxy
// sends node 2 no more reads (node 3 takes them all), and after `lag 2
// clear` node 2 catches up and gets reads again. No statement fails. How
// long the shun took after the first sample over the limit is logged, not
// asserted: lag_shun_after wants consecutive samples over it, and on a
// loaded machine a delayed replica's Seconds_Behind_Master can dip under
// the limit between two of them (CI once saw 4 s, then 2 s).
func TestLagMovesReads(t *testing.T) {
	needSandbox(t, "sysbench")
	const schema = "fo_lag"
	createWriteTables(t, sb, 1, schema)
	t.Cleanup(func() {
		if _, err := sb.Run("lag", "2", "clear"); err != nil {
			t.Errorf("restoring node2's replication: %v", err)
		}
		_, _ = sb.SQL(1, "DROP DATABASE IF EXISTS "+schema)
	})
	host, port, _ := net.SplitHostPort(sb.Addr(1))
	sbArgs := func(host, port string) []string {
		return []string{"oltp_point_select", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
			"--mysql-user=app", "--mysql-password=app", "--mysql-db=" + schema, "--tables=2", "--table-size=10000"}
	}
	prep := startSysbench(t, append(sbArgs(host, port), "prepare")...)
	<-prep.done
	require.NoError(t, prep.err, "sysbench prepare on the primary:\n%s", prep.out.String())
	_, err := sb.Run("sync")
	require.NoError(t, err)

	// Eventual: the test counts each server's Com_select against the
	// proxy's statements, which read-your-writes waits would add to (the
	// write load and the reads are sessions of one user).
	a := startProxyWith(t, sb, func(c *config.Config) {
		for i := range c.Users {
			c.Users[i].Consistency = config.ConsistencyEventual
		}
	})
	n2, n3 := sb.Addr(2), sb.Addr(3)
	queries := func(addr string) uint64 { return a.Pools.Stats(addr).Queries.Load() }

	host, port, _ = net.SplitHostPort(a.Addr())
	bench := startSysbench(t, append(sbArgs(host, port),
		"--threads=4", "--time=600", "--report-interval=1", "run")...)
	w := startWriteLoad(t, a, schema, 2, 0, false)

	// Both replicas serve reads, and writes are acknowledged.
	waitFor(t, 30*time.Second, func() bool {
		return queries(n2) >= 500 && queries(n3) >= 500 && w.count(func(o writeOp) bool { return o.err == nil }) >= 50
	}, "reads on both replicas and writes: statements on node2, node3: %v",
		lazy(func() string { return fmt.Sprint(queries(n2), ", ", queries(n3)) }))

	last2 := trackLastChange(t, func() uint64 { return queries(n2) })

	tLag := time.Now()
	_, err = sb.Run("lag", "2", "delay", "30")
	require.NoError(t, err)

	// The monitor measures node2's lag over the limit: its first sample
	// above maxLag ends at exceeded.
	var exceeded time.Time
	waitFor(t, 30*time.Second, func() bool {
		for _, e := range lagSamples(a, n2) {
			if l, ok := sampleLag(e); ok && e.Time.After(tLag) && l > maxLag {
				exceeded = e.Time.Add(e.Duration)
				return true
			}
		}
		return false
	}, "node2's measured lag never exceeded %d s: %v", maxLag, lazy(func() string { return fmt.Sprint(lagSamples(a, n2)) }))
	tShun := waitFor(t, 30*time.Second, func() bool {
		return stateIn(a, 20, n2) == topology.StateShunnedLag
	}, "node2 not SHUNNED_REPLICATION_LAG: %v (lag samples %v)", lazy(func() string { return fmt.Sprint(hostgroups(a)) }),
		lazy(func() string { return fmt.Sprint(lagSamples(a, n2)) }))
	t.Logf("lag injected; first sample over %ds after %s, SHUNNED_REPLICATION_LAG seen %s later",
		maxLag, ms(exceeded.Sub(tLag)), ms(tShun.Sub(exceeded)))

	// From a check interval and the grace after the shun (a read already
	// running on node2 ends), over a window in which node3 serves at least
	// 5000 reads: node2 serves none (its Com_select grows by the monitor's
	// read-only checks at most), and the proxy sent it nothing.
	deadline := tShun.Add(interval + grace)
	waitFor(t, interval+grace+time.Second, func() bool { return time.Now().After(deadline) }, "the window's start")
	fallbacks0 := a.Stats.ReaderFallbacks.Load()
	tA := time.Now()
	c2a, c3a, p2a := globalStatus(t, sb, 2, "Com_select"), globalStatus(t, sb, 3, "Com_select"), queries(n2)
	waitFor(t, 30*time.Second, func() bool { return globalStatus(t, sb, 3, "Com_select")-c3a >= 5000 },
		"node3 does not take the reads")
	c2b, p2b := globalStatus(t, sb, 2, "Com_select"), queries(n2)
	tB := time.Now()
	// A check that started just before tA may run its SELECT after the
	// first counter read: count from one interval earlier.
	checks := readOnlyChecks(a, n2, tA.Add(-interval), tB)
	t.Logf("window of %s from 3 intervals after the lag exceeded the limit: node2 Com_select +%d (monitor read-only checks %d), proxy queries +%d; node3 Com_select +%d",
		ms(tB.Sub(tA)), c2b-c2a, checks, p2b-p2a, globalStatus(t, sb, 3, "Com_select")-c3a)
	require.Equal(t, p2a, p2b, "the proxy sent node2 statements while it was shunned (last at %s; window %s .. %s)",
		last2().Format("15:04:05.000"), tA.Format("15:04:05.000"), tB.Format("15:04:05.000"))
	require.LessOrEqual(t, c2b-c2a, int64(checks), "node2 served reads while shunned")
	require.Equal(t, fallbacks0, a.Stats.ReaderFallbacks.Load(), "reads fell back to the writer while node3 was usable")

	lastRead := last2()
	t.Logf("last statement on node2 finished %s after its lag was first measured over the limit, %s after the shun",
		ms(lastRead.Sub(exceeded)), ms(lastRead.Sub(tShun)))

	// Back: node2 catches up, is unshunned, and gets reads again.
	tClear := time.Now()
	_, err = sb.Run("lag", "2", "clear")
	require.NoError(t, err)
	tBack := waitFor(t, 60*time.Second, func() bool { return stateIn(a, 20, n2) == topology.StateOnline },
		"node2 not ONLINE again: %v", hostgroups(a))
	p2c, c2c := queries(n2), globalStatus(t, sb, 2, "Com_select")
	tC := time.Now()
	tReads := waitFor(t, 30*time.Second, func() bool {
		return globalStatus(t, sb, 2, "Com_select")-c2c-int64(readOnlyChecks(a, n2, tC.Add(-interval), time.Now())) >= 500
	}, "node2 serves no reads after it is ONLINE again")
	require.GreaterOrEqual(t, queries(n2)-p2c, uint64(500), "the proxy's statements on node2")
	t.Logf("lag cleared; node2 ONLINE after %s, 500 reads on it %s later", ms(tBack.Sub(tClear)), ms(tReads.Sub(tBack)))

	w.halt()
	_, total := bench.stop(t)
	ops := w.snapshot()
	require.Empty(t, errorsOf(ops), "writer loop errors")
	t.Logf("sysbench: %.0f queries reported, 0 errors; writer loop: %d INSERTs, 0 errors", total, len(ops))
	requireNoLostWrites(t, sb, 1, w)
	require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
}

// trackLastChange polls counter every 2 ms until the test ends and
// returns a function giving the last time it changed.
func trackLastChange(t *testing.T, counter func() uint64) func() time.Time {
	var (
		mu   sync.Mutex
		last = time.Now()
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	prev := counter()
	wg.Go(func() {
		for !stop.Load() {
			if v := counter(); v != prev {
				prev = v
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}
