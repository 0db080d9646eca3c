package integration

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPrepareInsideTransaction: a COM_STMT_PREPARE (or COM_STATISTICS)
// inside a transaction must not release the transaction's backend
// connection — their responses carry no status flags.
func TestPrepareInsideTransaction(t *testing.T) {
	needSandbox(t)
	a := startSplitProxy(t)
	ctx := context.Background()
	db := openDB(t, dsn(a.Addr(), "app", "app"))
	other := openDB(t, dsn(a.Addr(), "app", "app"))
	_, err := db.Exec("CREATE TABLE IF NOT EXISTS app.txprep (id INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = db.Exec("DELETE FROM app.txprep")
	require.NoError(t, err)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	var before, after int64
	require.NoError(t, tx.QueryRow("SELECT CONNECTION_ID()").Scan(&before))
	_, err = tx.Exec("INSERT INTO app.txprep VALUES (1)")
	require.NoError(t, err)
	st, err := tx.Prepare("INSERT INTO app.txprep VALUES (?)")
	require.NoError(t, err)
	// Other sessions keep running: one of them would get the released
	// connection and see the uncommitted row.
	for i := 0; i < 20; i++ {
		var n int
		require.NoError(t, other.QueryRow("SELECT /* rwproxy:writer */ COUNT(*) FROM app.txprep").Scan(&n))
		require.Zero(t, n, "another session saw an uncommitted row")
	}
	_, err = st.Exec(2)
	require.NoError(t, err)
	require.NoError(t, tx.QueryRow("SELECT CONNECTION_ID()").Scan(&after))
	require.Equal(t, before, after, "the transaction moved to another backend connection")
	require.NoError(t, tx.Rollback())
	var n int
	require.NoError(t, db.QueryRow("SELECT /* rwproxy:writer */ COUNT(*) FROM app.txprep").Scan(&n))
	require.Zero(t, n, "rolled back: nothing stays")
}
