package ops

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSIGTERMDrain: SIGTERM while clients run transactions: no transaction
// is cut in half — every COMMIT the proxy acknowledged is complete on the
// primary, no COMMIT fails, clients only see clean errors before a COMMIT —
// and the process exits within shutdown_timeout.
func TestSIGTERMDrain(t *testing.T) {
	p := startProxy(t, 1, 1)
	direct, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/app", sb.Addr(1)))
	require.NoError(t, err)
	defer direct.Close()
	_, err = direct.Exec("CREATE TABLE IF NOT EXISTS app.drain (txn BIGINT, part INT, PRIMARY KEY (txn, part))")
	require.NoError(t, err)
	_, err = direct.Exec("DELETE FROM app.drain")
	require.NoError(t, err)

	const workers = 6
	var (
		mu         sync.Mutex
		committed  []int64
		commitErrs int
		commitMsg  string
		started    int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			db := openDB(t, p.addr)
			db.SetMaxOpenConns(1)
			for i := int64(0); ctx.Err() == nil; i++ {
				id := int64(w)<<32 | i
				tx, err := db.Begin()
				if err != nil {
					return // the proxy went away between transactions
				}
				mu.Lock()
				started++
				mu.Unlock()
				_, err1 := tx.Exec("INSERT INTO app.drain VALUES (?, 1)", id)
				time.Sleep(2 * time.Millisecond) // a transaction spans some time
				_, err2 := tx.Exec("INSERT INTO app.drain VALUES (?, 2)", id)
				if err1 != nil || err2 != nil {
					_ = tx.Rollback()
					return
				}
				if err := tx.Commit(); err != nil {
					mu.Lock()
					commitErrs++
					commitMsg = err.Error()
					mu.Unlock()
					return
				}
				mu.Lock()
				committed = append(committed, id)
				mu.Unlock()
			}
		})
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(committed) > 50 },
		20*time.Second, 20*time.Millisecond, "clients commit through the proxy")
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("rwproxy did not exit within shutdown_timeout (10s) + 5s")
	}
	took := time.Since(start)
	cancel()
	wg.Wait()
	require.Less(t, took, 12*time.Second, "exit within shutdown_timeout")
	mu.Lock()
	defer mu.Unlock()
	require.Zero(t, commitErrs, "a COMMIT failed: a transaction was cut at its commit: %s", commitMsg)
	t.Logf("%d transactions committed, %d started, exit after %v", len(committed), started, took)

	// Every acknowledged commit is whole; nothing is half there.
	rows, err := direct.Query("SELECT txn, COUNT(*) FROM app.drain GROUP BY txn")
	require.NoError(t, err)
	defer rows.Close()
	parts := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		parts[id] = n
	}
	require.NoError(t, rows.Err())
	for _, id := range committed {
		require.Equal(t, 2, parts[id], "committed transaction %x is not whole", id)
	}
	for id, n := range parts {
		require.Equal(t, 2, n, "transaction %x is half there", id)
	}
}

// TestReload: with config_source: file, a broken file (by SIGHUP or by the
// file watch) keeps the running configuration; a good one applies without
// dropping connections.
func TestReload(t *testing.T) {
	p := newProxy(t, "config_source: file\n")
	p.write(t, p.render(1, 1))
	p.start(t, nil)
	db := openDB(t, p.addr)
	// A long-lived client connection, from its own pool.
	keep, err := openDB(t, p.addr).Conn(context.Background())
	require.NoError(t, err)
	defer keep.Close()
	var id0 int64
	require.NoError(t, keep.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id0))
	got := ports(t, db, 40)
	require.Positive(t, got[sb.Ports[1]], "1:1: both replicas serve reads %v", got)
	require.Positive(t, got[sb.Ports[2]], "1:1: both replicas serve reads %v", got)

	// A broken file, announced by SIGHUP: refused, still serving as before.
	p.write(t, "listen: [not, an, address]\nservers: 3\n")
	p.signal(t, syscall.SIGHUP)
	require.Eventually(t, func() bool { return contains(p.log(t), "reload refused") }, 30*time.Second, 50*time.Millisecond)
	got = ports(t, db, 40)
	require.Positive(t, got[sb.Ports[1]], "old configuration kept %v", got)
	require.Positive(t, got[sb.Ports[2]], "old configuration kept %v", got)

	// A good file, noticed by the file watch alone: node 2's weight 0.
	p.write(t, p.render(0, 1))
	require.Eventually(t, func() bool {
		g := ports(t, db, 20)
		return g[sb.Ports[1]] == 0 && g[sb.Ports[2]] == 20
	}, 30*time.Second, 200*time.Millisecond, "the new weights apply")
	// The long-lived connection was never dropped.
	var n int
	require.NoError(t, keep.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))

	// And by SIGHUP: back to 1:1.
	p.write(t, p.render(1, 1))
	p.signal(t, syscall.SIGHUP)
	require.Eventually(t, func() bool {
		g := ports(t, db, 40)
		return g[sb.Ports[1]] > 0 && g[sb.Ports[2]] > 0
	}, 30*time.Second, 200*time.Millisecond, "reads spread again")
	require.NoError(t, keep.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))
}
