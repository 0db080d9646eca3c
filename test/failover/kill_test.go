package failover

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/topology"
)

// readOp is one point select of the read load.
type readOp struct {
	start, end time.Time
	port       int
	err        error
}

// readLoad runs point selects through the proxy, each reporting the
// @@port of the server that answered.
type readLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	ops  []readOp
}

// startReadLoad runs n goroutines of `SELECT v, @@port FROM schema.t WHERE
// id = ?` over db (ids 1..rows, v = 3*id; a wrong v is an error).
func startReadLoad(t *testing.T, db *sql.DB, schema string, n, rows int) *readLoad {
	r := &readLoad{stop: make(chan struct{})}
	q := fmt.Sprintf("SELECT v, @@port FROM %s.t WHERE id = ?", schema)
	for range n {
		r.wg.Go(func() {
			for {
				select {
				case <-r.stop:
					return
				default:
				}
				id := 1 + rand.IntN(rows)
				op := readOp{start: time.Now()}
				ctx, cancel := context.WithTimeout(context.Background(), stmtTimeout)
				var v int
				op.err = db.QueryRowContext(ctx, q, id).Scan(&v, &op.port)
				cancel()
				if op.err == nil && v != 3*id {
					op.err = fmt.Errorf("id %d: v = %d, want %d (port %d)", id, v, 3*id, op.port)
				}
				op.end = time.Now()
				r.mu.Lock()
				r.ops = append(r.ops, op)
				r.mu.Unlock()
			}
		})
	}
	t.Cleanup(r.halt)
	return r
}

func (r *readLoad) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
}

func (r *readLoad) snapshot() []readOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]readOp(nil), r.ops...)
}

// count counts finished reads that satisfy keep.
func (r *readLoad) count(keep func(readOp) bool) int {
	n := 0
	for _, o := range r.snapshot() {
		if keep(o) {
			n++
		}
	}
	return n
}

// TestReplicaKilledUnderLoad: 8 goroutines of point selects through the
// proxy while node 3 is SIGKILLed. Reads carry on on node 2 (and the
// writer, as fallback); errors are at most one per connection the proxy
// held to node 3 at the kill, and none once the monitor has shunned it.
// After `start 3` reads come back to node 3.
func TestReplicaKilledUnderLoad(t *testing.T) {
	needSandbox(t)
	const schema, rows = "fo_kill", 1000
	rootSQL(t, sb, 1, fmt.Sprintf(`DROP DATABASE IF EXISTS %[1]s; CREATE DATABASE %[1]s;
		CREATE TABLE %[1]s.t (id INT PRIMARY KEY, v INT NOT NULL);
		INSERT INTO %[1]s.t SELECT seq, 3*seq FROM %[1]s.seq_1_to_%[2]d`, schema, rows))
	_, err := sb.Run("sync")
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := sb.Run("start", "3"); err != nil {
			t.Errorf("restarting node3: %v", err)
		}
		_, _ = sb.SQL(1, "DROP DATABASE IF EXISTS "+schema)
	})

	a := startProxy(t, sb)
	port := func(n int) int { return sb.Ports[n-1] }
	n3 := sb.Addr(3)
	r := startReadLoad(t, openDB(t, proxyDSN(a, "", true), 8), schema, 8, rows)
	on := func(n int, after time.Time) func(readOp) bool {
		return func(o readOp) bool { return o.err == nil && o.port == port(n) && o.start.After(after) }
	}
	waitFor(t, 30*time.Second, func() bool {
		return r.count(on(2, time.Time{})) >= 300 && r.count(on(3, time.Time{})) >= 300
	}, "reads on both replicas")

	st3 := a.Pools.Stats(n3)
	held := st3.ConnUsed.Load() + st3.ConnFree.Load()
	require.Positive(t, held, "the proxy holds no connection to node3")
	fallbacks0 := a.Stats.ReaderFallbacks.Load()

	tKill := time.Now()
	kill := runAsync(sb, "kill", "3")
	tShun := waitFor(t, 4*interval+grace+5*time.Second, func() bool { return stateIn(a, 20, n3) == topology.StateShunned },
		"node3 not SHUNNED: %v", hostgroups(a))
	_, err = kill()
	require.NoError(t, err)
	tKilled := time.Now()
	t.Logf("kill 3 started; node3 SHUNNED after %s; the kill command returned after %s", ms(tShun.Sub(tKill)), ms(tKilled.Sub(tKill)))

	// Reads carry on without node3.
	waitFor(t, 30*time.Second, func() bool {
		return r.count(func(o readOp) bool { return o.err == nil && o.start.After(tShun) }) >= 1000
	}, "reads do not carry on after node3 is shunned")

	tStart := time.Now()
	_, err = sb.Run("start", "3")
	require.NoError(t, err)
	tStarted := time.Now()
	tOnline := waitFor(t, 10*interval+15*time.Second, func() bool { return stateIn(a, 20, n3) == topology.StateOnline },
		"node3 not ONLINE again: %v", hostgroups(a))
	tBack := waitFor(t, 30*time.Second, func() bool { return r.count(on(3, tStarted)) >= 100 },
		"reads do not come back to node3")
	r.halt()
	t.Logf("node3 started in %s; ONLINE %s and 100 reads on it %s after start returned",
		ms(tStarted.Sub(tStart)), ms(tOnline.Sub(tStarted)), ms(tBack.Sub(tStarted)))

	ops := r.snapshot()
	var errs []readOp
	byPort := map[int]int{} // successful reads that started after the shun and ended before the restart
	fallbackReads := 0      // successful reads on the writer between the kill and the restart
	for _, o := range ops {
		if o.err != nil {
			errs = append(errs, o)
			continue
		}
		if o.start.After(tShun) && o.end.Before(tStart) {
			byPort[o.port]++
		}
		if o.port == port(1) && o.start.After(tKill) && o.end.Before(tStart) {
			fallbackReads++
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].start.Before(errs[j].start) })
	t.Logf("%d reads; %d errors (the proxy held %d connections to node3 at the kill); %d reads fell back to the writer (%d reader fallbacks counted); between the shun and the restart: node1 %d, node2 %d, node3 %d reads",
		len(ops), len(errs), held, fallbackReads, a.Stats.ReaderFallbacks.Load()-fallbacks0, byPort[port(1)], byPort[port(2)], byPort[port(3)])
	for _, o := range errs {
		t.Logf("error: read [%s .. %s] (kill %s, shunned %s): %v", o.start.Format("15:04:05.000"), o.end.Format("15:04:05.000"),
			tKill.Format("15:04:05.000"), tShun.Format("15:04:05.000"), o.err)
		require.NotNil(t, mysqlErr(o.err), "not a clean MySQL error: %v", o.err)
	}
	require.LessOrEqual(t, int64(len(errs)), held, "more errors than connections in use on node3 at the kill")
	for _, o := range errs {
		require.False(t, o.start.After(tShun), "a read started after node3 was shunned failed: %v", o.err)
	}
	require.Zero(t, byPort[port(3)], "reads answered by node3 after it was shunned")
	require.Positive(t, byPort[port(2)], "node2 served no reads while node3 was shunned")
	require.Zero(t, byPort[port(1)], "reads fell back to the writer after node3 was shunned, while node2 was usable")
	require.Zero(t, a.Stats.Panics.Load(), "proxy panics")
}
