package replay

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// target is a fake server: SELECT returns one row, "missing" fails with
// 1146, the rest is OK; executes are logged.
type target struct {
	mysqlserver.EmptyHandler
	mu    *sync.Mutex
	execs *[]string
}

func (target) HandleQuery(q string) (*mysql.Result, error) {
	if strings.Contains(q, "missing") {
		return nil, mysql.NewDefaultError(mysql.ER_NO_SUCH_TABLE, "test", "missing")
	}
	if strings.HasPrefix(strings.ToUpper(q), "SELECT") {
		rs, err := mysql.BuildSimpleResultset([]string{"c"}, [][]any{{int64(7)}}, false)
		return mysql.NewResult(rs), err
	}
	return nil, nil
}
func (target) HandleOtherCommand(byte, []byte) error { return nil }
func (target) HandleStmtPrepare(q string) (int, int, any, error) {
	return strings.Count(q, "?"), 1, nil, nil
}
func (t target) HandleStmtExecute(_ any, q string, args []any) (*mysql.Result, error) {
	t.mu.Lock()
	*t.execs = append(*t.execs, fmt.Sprint(args))
	t.mu.Unlock()
	rs, err := mysql.BuildSimpleResultset([]string{"c"}, [][]any{{int64(7)}}, true)
	return mysql.NewResult(rs), err
}

func startTarget(t *testing.T) (string, func() []string) {
	var mu sync.Mutex
	var execs []string
	addr := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler {
		return target{mu: &mu, execs: &execs}
	}})
	return addr, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), execs...) }
}

// params is an execute parameter block: a LONGLONG 42, a NULL and a
// string "x".
var params = []byte{0x02, 1, mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_LONGLONG, 0, mysql.MYSQL_TYPE_STRING, 0,
	42, 0, 0, 0, 0, 0, 0, 0, 1, 'x'}

// makeCapture writes a capture of two sessions.
func makeCapture(t *testing.T, selectRows int, sum uint64) string {
	dir := t.TempDir()
	var c capture.Capturer
	require.NoError(t, c.Start(capture.Options{Dir: dir}))
	now := time.Now()
	rec := func(sid uint32, ms int, sql, digest string, rows int, errCode uint16) *capture.Stmt {
		return &capture.Stmt{Start: now.Add(time.Duration(ms) * time.Millisecond), Session: sid, User: "u",
			Autocommit: true, SQL: sql, Digest: digest, Dur: time.Millisecond, Rows: rows, Err: errCode}
	}
	sel := rec(1, 1, "SELECT c FROM t WHERE id = 1", "select c from t where id = ?", selectRows, 0)
	sel.RowSum = sum
	c.Record(sel)
	c.Record(rec(2, 2, "UPDATE t SET c = 1", "update t set c = ?", 0, 0))
	c.Record(rec(1, 3, "DELETE FROM missing", "delete from missing", 0, mysql.ER_NO_SUCH_TABLE))
	ex := rec(2, 4, "SELECT c FROM t WHERE id = ? AND a = ? AND b = ?", "select c from t where id = ? and a = ? and b = ?", 1, 0)
	ex.Execute, ex.Params = true, params
	c.Record(ex)
	_, err := c.Stop()
	require.NoError(t, err)
	return dir
}

func TestReplayMatches(t *testing.T) {
	addr, execs := startTarget(t)
	dir := makeCapture(t, 1, 0)
	for _, speed := range []float64{1, 2} {
		r, err := Run(context.Background(), Options{From: dir, To: addr, User: "u", Password: "pw", Speed: speed})
		require.NoError(t, err)
		require.Equal(t, "replay: 4 statements, 0 unexpected errors, 0 mismatches", r.Summary(), "%+v", r.Diffs)
		require.Len(t, r.Digests, 4)
	}
	// go-mysql's server shows a string as its type (254) and bytes.
	require.Equal(t, []string{"[42 <nil> {254 [120]}]", "[42 <nil> {254 [120]}]"}, execs(), "the parameters replayed as captured")
}

func TestReplayDifferences(t *testing.T) {
	addr, _ := startTarget(t)
	dir := makeCapture(t, 2, 0) // the capture saw 2 rows where the target returns 1
	r, err := Run(context.Background(), Options{From: dir, To: addr, User: "u", Password: "pw"})
	require.NoError(t, err)
	require.Equal(t, 1, r.Mismatches)
	require.Equal(t, "captured 2 rows, replay 1", r.Diffs[0].Detail)

	// Same row count, other rows.
	r, err = Run(context.Background(), Options{From: makeCapture(t, 1, 12345), To: addr, User: "u", Password: "pw"})
	require.NoError(t, err)
	require.Equal(t, 1, r.Mismatches)
	require.Contains(t, r.Diffs[0].Detail, "captured checksum 0000000000003039")
	require.Equal(t, 1, r.Checksums)

	// A target that refuses the login: every statement is an unexpected error.
	r, err = Run(context.Background(), Options{From: dir, To: addr, User: "u", Password: "wrong"})
	require.NoError(t, err)
	require.Equal(t, 4, r.Unexpected)

	r, err = Run(context.Background(), Options{From: dir, To: addr, User: "u", Password: "pw", ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, 2, r.Statements, "the two reads")
	require.Equal(t, 2, r.Skipped, "the UPDATE and the DELETE")
}

func TestMainCommand(t *testing.T) {
	addr, _ := startTarget(t)
	dir := makeCapture(t, 1, 0)
	var out, errb bytes.Buffer
	code := Main([]string{"--from", dir, "--to", addr, "--user", "u", "--password", "pw", "--speed", "2"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, "replay: 4 statements, 0 unexpected errors, 0 mismatches", lines[len(lines)-1])
	md, err := os.ReadFile(filepath.Join(dir, "replay-report", "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "| `select c from t where id = ?` | 1 |")
	_, err = os.Stat(filepath.Join(dir, "replay-report", "report.json"))
	require.NoError(t, err)
	svg, err := os.ReadFile(filepath.Join(dir, "replay-report", "report.svg"))
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(string(svg), `fill="#1e6fd9"`), "one replayed bar per digest")
	require.Equal(t, 2, Main([]string{"--to", addr}, &out, &errb))
}

func TestRedactedCaptureRefused(t *testing.T) {
	dir := t.TempDir()
	var c capture.Capturer
	require.NoError(t, c.Start(capture.Options{Dir: dir, Redact: true}))
	c.Record(&capture.Stmt{Start: time.Now(), Session: 1, SQL: "SELECT 1"})
	_, err := c.Stop()
	require.NoError(t, err)
	_, err = Run(context.Background(), Options{From: dir, To: "127.0.0.1:1", User: "u"})
	require.ErrorContains(t, err, "REDACT")
}
