package app

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/internal/handover"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

func globalRow(t *testing.T, a *App, name string) int64 {
	t.Helper()
	for _, c := range (adminRuntime{a}).Snapshot(admin.WantGlobal).Global {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no stats_mysql_global row %s", name)
	return 0
}

// TestUpgradeTransactionKeepsReplay: a session inside a transaction
// (transaction_replay on, the default) moves with its backend connection
// and its replay record, and commits in the new process; no transaction
// is counted as going on without replay (only one from an older binary
// would be). The upgrade counters are rows of stats_mysql_global on both
// sides.
func TestUpgradeTransactionKeepsReplay(t *testing.T) {
	backend := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return &txnBackend{} }})
	r := &upgradeRig{stats: &handover.Stats{}, oldDone: make(chan error, 1), backend: backend}
	a, err := New(backendConfig(t, backend), zaptest.NewLogger(t).Named("old"))
	require.NoError(t, err)
	require.True(t, a.Store.Current().ReplayEnabled())
	a.SetUpgradeStats(r.stats)
	a.SetQueryHook(func([]byte) { r.oldQ.Add(1) })
	a.Start()
	t.Cleanup(func() { _ = a.Close() })
	r.old, r.sock = a, filepath.Join(t.TempDir(), "up.sock")
	require.Zero(t, globalRow(t, a, "Upgrades_Completed"))

	ctx := context.Background()
	c := dedicated(t, openClient(t, a.Addr()))
	_, err = c.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "UPDATE t SET c = 1")
	require.NoError(t, err)

	r.serveOld(t)
	taken, err := r.takeover(t, "")
	require.NoError(t, err)
	<-taken.Done()
	require.NoError(t, <-r.oldDone)
	require.Equal(t, int64(1), globalRow(t, a, "Upgrade_Sessions_Handed_Over"))
	require.Equal(t, int64(1), globalRow(t, a, "Upgrades_Completed"))
	require.Positive(t, globalRow(t, a, "Upgrade_Last_Duration_ms")+1) // a row, 0 ms allowed
	require.Zero(t, globalRow(t, r.newApp, "Upgrade_Transactions_Without_Replay"))
	require.Zero(t, r.newStats.TxnsWithoutReplay.Load())
	require.Zero(t, globalRow(t, a, "Upgrade_Sessions_Taken_Back"))
	require.Positive(t, globalRow(t, a, "Upgrade_Last_Pause_ms")+1) // a row, 0 ms allowed
	require.NoError(t, a.Close())

	newQ := r.newQ.Load()
	_, err = c.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.Equal(t, newQ+1, r.newQ.Load(), "the COMMIT ran in the new process")
}
