package capture

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readDir reads every record of the capture in dir, file by file.
func readDir(t *testing.T, dir string) [][]Record {
	t.Helper()
	names, err := Files(dir)
	require.NoError(t, err)
	var out [][]Record
	for _, n := range names {
		recs, err := ReadFile(n)
		require.NoError(t, err)
		out = append(out, recs)
	}
	return out
}

func stmt(sid uint32, sql string) *Stmt {
	return &Stmt{Start: time.Now(), Session: sid, User: "app", DB: "shop", Autocommit: true, SQL: sql,
		Digest: "SELECT ?", Dur: 1500 * time.Microsecond, Rows: 1, Bytes: 60, Hostgroup: 20, Backend: "127.0.0.1:3307"}
}

func TestCaptureFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cap")
	var c Capturer
	require.False(t, c.Active())
	require.NoError(t, c.Start(Options{Dir: dir}))
	require.True(t, c.Active())
	require.ErrorIs(t, c.Start(Options{Dir: dir}), ErrRunning)
	c.Record(stmt(7, "SELECT 1"))
	c.Record(stmt(8, "SELECT 2"))
	ex := stmt(7, "SELECT c FROM t WHERE id = ?")
	ex.Execute, ex.Params, ex.Err = true, []byte{0, 1, 8, 0, 42, 0, 0, 0, 0, 0, 0, 0}, 1146
	c.Record(ex)
	s, err := c.Stop()
	require.NoError(t, err)
	require.False(t, c.Active())
	require.Equal(t, uint64(3), s.Written)
	require.Equal(t, "stop", s.Reason)
	require.Equal(t, 1, s.Files)
	_, err = c.Stop()
	require.ErrorIs(t, err, ErrNotRunning)

	files := readDir(t, dir)
	require.Len(t, files, 1)
	recs := files[0]
	require.Len(t, recs, 7) // header, 2 sessions, 3 statements, footer
	require.Equal(t, Record{Type: TypeHeader, Version: FormatVersion, Started: recs[0].Started}, recs[0])
	require.Equal(t, TypeSession, recs[1].Type)
	require.Equal(t, uint32(7), recs[1].Session)
	require.Equal(t, "app", recs[1].User)
	require.True(t, *recs[1].Autocommit)
	require.Equal(t, TypeStmt, recs[2].Type)
	require.Equal(t, "SELECT 1", recs[2].SQL)
	require.Equal(t, "query", recs[2].Cmd)
	require.Equal(t, int64(1500), recs[2].DurUS)
	require.Equal(t, 20, recs[2].Hostgroup)
	require.Positive(t, recs[2].T)
	require.Equal(t, uint32(8), recs[3].Session)
	require.Equal(t, TypeSession, recs[3].Type)
	last := recs[5]
	require.Equal(t, "execute", last.Cmd)
	require.Equal(t, "000108002a00000000000000", last.Params[:24])
	require.Equal(t, uint16(1146), last.Err)
	require.Equal(t, Record{Type: TypeFooter, Written: 3}, recs[6])

	// The directory holds a capture now: a second one is refused.
	require.ErrorContains(t, c.Start(Options{Dir: dir}), "already holds a capture")
}

func TestCaptureRedact(t *testing.T) {
	dir := t.TempDir()
	var c Capturer
	require.NoError(t, c.Start(Options{Dir: dir, Redact: true}))
	ex := stmt(1, "SELECT 'secret'")
	ex.Execute, ex.Params = true, []byte("secret")
	c.Record(ex)
	_, err := c.Stop()
	require.NoError(t, err)
	raw := readDir(t, dir)[0]
	require.True(t, raw[0].Redact)
	st := raw[2]
	require.Empty(t, st.SQL)
	require.Empty(t, st.Params)
	require.Equal(t, "SELECT ?", st.Digest)
	require.Len(t, st.Hash, 64)
}

// TestCaptureRotationAndCap: a tiny file size starts a file per record,
// each with its header and its sessions; the size cap ends the capture.
func TestCaptureRotationAndCap(t *testing.T) {
	dir := t.TempDir()
	var c Capturer
	require.NoError(t, c.Start(Options{Dir: dir, FileBytes: 1}))
	for range 3 {
		c.Record(stmt(1, "SELECT 1"))
	}
	s, err := c.Stop()
	require.NoError(t, err)
	require.Equal(t, 4, s.Files, "a file per record, and the last one (footer)")
	for _, recs := range readDir(t, dir) {
		require.Equal(t, TypeHeader, recs[0].Type)
		if len(recs) > 1 && recs[1].Type != TypeFooter {
			require.Equal(t, TypeSession, recs[1].Type)
		}
	}

	dir = t.TempDir()
	require.NoError(t, c.Start(Options{Dir: dir, MaxBytes: 1}))
	c.Record(stmt(1, "SELECT 1"))
	require.Eventually(t, func() bool { return !c.Active() }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "size cap", c.Last().Reason)
	c.Record(stmt(1, "SELECT 2")) // after the end: ignored
	require.Equal(t, uint64(1), c.Last().Written)
}

// TestCaptureDuration: the capture ends by itself.
func TestCaptureDuration(t *testing.T) {
	var c Capturer
	require.NoError(t, c.Start(Options{Dir: t.TempDir(), Duration: time.Millisecond}))
	require.Eventually(t, func() bool { return !c.Active() }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "duration", c.Last().Reason)
}

// TestCaptureDrops: Record never blocks; what the queue cannot take is
// counted, and every record is either written or dropped.
func TestCaptureDrops(t *testing.T) {
	var c Capturer
	require.NoError(t, c.Start(Options{Dir: t.TempDir(), QueueSize: 1}))
	const n = 2000
	for range n {
		c.Record(stmt(1, "SELECT 1"))
	}
	s, err := c.Stop()
	require.NoError(t, err)
	require.Equal(t, uint64(n), s.Written+s.Dropped)
}
