package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestPanicClosesOneSession makes one session panic inside the proxy (through
// the test query hook): that client loses its connection, every other
// session carries on, and the proxy keeps accepting clients.
func TestPanicClosesOneSession(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	// Before any client connects: sessions read the hook without locking.
	a.SetQueryHook(func(q []byte) {
		if string(q) == "SELECT 'boom'" {
			panic("boom")
		}
	})
	stats := a.Pools.Stats(primary())

	// Other clients run queries (text and prepared) all along.
	others := openDB(t, dsn(a.Addr(), "app", ""))
	others.SetMaxOpenConns(4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var done atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var got string
				var err error
				if i%2 == 0 {
					err = others.QueryRow(fmt.Sprintf("SELECT 'g%d-%d'", g, i)).Scan(&got)
				} else {
					err = others.QueryRow("SELECT CONCAT('g', ?, '-', ?)", g, i).Scan(&got)
				}
				if err == nil && got != fmt.Sprintf("g%d-%d", g, i) {
					err = fmt.Errorf("goroutine %d round %d: got %q", g, i, got)
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return done.Load() >= 20 }, 30*time.Second, 5*time.Millisecond, "the other sessions run")

	// The victim: a dedicated connection, in a transaction with a session
	// variable set, so that the proxy holds a pinned backend connection
	// when the panic hits.
	victimDB := openDB(t, dsn(a.Addr(), "app", ""))
	victim := conn(t, victimDB)
	ctx := context.Background()
	_, err := victim.ExecContext(ctx, "SET sql_mode = ''")
	require.NoError(t, err)
	_, err = victim.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	var one int
	require.NoError(t, victim.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	var boom string
	err = victim.QueryRowContext(ctx, "SELECT 'boom'").Scan(&boom)
	require.Error(t, err, "the panicking statement must not succeed")
	t.Logf("the panicking session got: %v", err)
	if me := (*mysql.MySQLError)(nil); errors.As(err, &me) {
		require.Equal(t, uint16(9003), me.Number, "proxy internal error: %v", me)
	}
	// The connection is gone: the next statement on it fails too.
	require.Error(t, victim.QueryRowContext(ctx, "SELECT 1").Scan(&one), "the victim's connection is closed")

	// The others go on after the panic.
	after := done.Load()
	require.Eventually(t, func() bool { return done.Load() >= after+20 }, 30*time.Second, 5*time.Millisecond,
		"the other sessions run after the panic")
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "another session failed")
	}

	require.Equal(t, uint64(1), a.Stats.Panics.Load(), "panics")

	t.Run("new clients are accepted", func(t *testing.T) {
		db, err := sql.Open("mysql", dsn(a.Addr(), "app", ""))
		require.NoError(t, err)
		defer db.Close()
		var mode string
		var inTrx int
		require.NoError(t, db.QueryRow("SELECT @@sql_mode, @@in_transaction").Scan(&mode, &inTrx))
		require.NotEmpty(t, mode, "the victim's sql_mode did not leak")
		require.Zero(t, inTrx, "the victim's transaction did not leak")
	})
	require.Eventually(t, func() bool { return stats.ConnUsed.Load() == 0 }, 30*time.Second, 20*time.Millisecond,
		"backend connections in use: %d", stats.ConnUsed.Load())
}
