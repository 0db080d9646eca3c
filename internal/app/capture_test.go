package app

import (
	"context"
	"database/sql"
	"net"
	"path/filepath"
	"testing"

	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/internal/replay"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// TestTrafficCapture: TRAFFIC CAPTURE on the admin port records the
// statements of the proxy's sessions (text and prepared, with their
// result summaries) until TRAFFIC CAPTURE STOP; with no capture running
// nothing is recorded; the capture replays with no difference.
func TestTrafficCapture(t *testing.T) {
	backend := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return rowsBackend{} }})
	a, err := New(backendConfig(t, backend), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Start(WithAdmin("")))
	adm, err := sql.Open("mysql", "admin:admin@tcp("+a.AdminAddr()+")/")
	require.NoError(t, err)
	t.Cleanup(func() { _ = adm.Close() })
	db := openClient(t, a.Addr())
	ctx := context.Background()
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM t WHERE id = 1").Scan(&v)) // before: not captured

	dir := filepath.Join(t.TempDir(), "cap")
	_, err = adm.ExecContext(ctx, "TRAFFIC CAPTURE TO '"+dir+"' DURATION='1h'")
	require.NoError(t, err)
	_, err = adm.ExecContext(ctx, "TRAFFIC CAPTURE TO '"+dir+"'")
	require.ErrorContains(t, err, "already running")
	require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM t WHERE id = 2").Scan(&v))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM t WHERE id = ?", 42).Scan(&v))
	_, err = db.ExecContext(ctx, "DELETE FROM missing WHERE id = 3")
	require.ErrorContains(t, err, "1146")

	var dirOut, reason string
	var stmts, dropped, files, bytes int64
	var secs float64
	require.NoError(t, adm.QueryRowContext(ctx, "TRAFFIC CAPTURE STOP").Scan(&dirOut, &stmts, &dropped, &files, &bytes, &secs, &reason))
	require.Equal(t, dir, dirOut)
	require.Equal(t, "stop", reason)
	require.Zero(t, dropped)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM t WHERE id = 4").Scan(&v)) // after: not captured
	_, err = adm.ExecContext(ctx, "TRAFFIC CAPTURE DURATION='x'")
	require.ErrorContains(t, err, "TRAFFIC CAPTURE TO")

	names, err := capture.Files(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
	recs, err := capture.ReadFile(names[0])
	require.NoError(t, err)
	var got []capture.Record
	for _, r := range recs {
		if r.Type == capture.TypeStmt {
			got = append(got, r)
		}
	}
	require.Len(t, got, 3, "records: %+v", recs)
	require.Equal(t, int64(3), stmts)
	require.Equal(t, "SELECT c FROM t WHERE id = 2", got[0].SQL)
	require.Equal(t, "query", got[0].Cmd)
	require.Equal(t, 1, got[0].Rows)
	require.Len(t, got[0].Checksum, 16)
	require.Equal(t, 10, got[0].Hostgroup)
	require.Equal(t, backend, got[0].Backend)
	require.Equal(t, "execute", got[1].Cmd)
	require.Equal(t, "SELECT c FROM t WHERE id = ?", got[1].SQL)
	require.NotEmpty(t, got[1].Params)
	require.Equal(t, 1, got[1].Rows)
	require.Len(t, got[1].Checksum, 16)
	require.NotEqual(t, got[0].Checksum, got[1].Checksum, "a text row and a binary row")
	require.Equal(t, uint16(1146), got[2].Err)
	require.Equal(t, capture.TypeSession, recs[1].Type)
	require.Equal(t, "u", recs[1].User)
	require.Equal(t, capture.TypeFooter, recs[len(recs)-1].Type)

	// The capture replays through the proxy as it was captured. (The
	// replayer's go-mysql client claims query attributes in its handshake
	// although this proxy, tracing off, does not announce them: it must be
	// served plainly.)
	r, err := replay.Run(ctx, replay.Options{From: dir, To: a.Addr(), User: "u", Password: "pw", Speed: 2})
	require.NoError(t, err)
	require.Equal(t, "replay: 3 statements, 0 unexpected errors, 0 mismatches", r.Summary(), "%+v", r.Diffs)
}
