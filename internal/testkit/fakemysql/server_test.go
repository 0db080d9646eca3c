package fakemysql

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func dial(t *testing.T, s *Server) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, s.Addr, User, Password, "", 10*time.Second, func(c *client.Conn) error {
		return c.SetCapability(mysql.CLIENT_SESSION_TRACK)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func myErr(t *testing.T, err error) *mysql.MyError {
	t.Helper()
	var me *mysql.MyError
	require.True(t, errors.As(err, &me), "not a server error: %v", err)
	return me
}

func TestScriptedReplies(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := Start(t)
	s.On("select a", Rows([]string{"a", "b"}, []any{int64(1), "x"}, []any{int64(2), "y"}))
	s.On("insert", Reply{OK: &mysql.Result{AffectedRows: 3, InsertId: 42, Status: mysql.SERVER_SESSION_STATE_CHANGED,
		SessionTracking: &mysql.SessionTrackingInfo{GTID: "uuid:7"}}})
	s.On("update", Error(mysql.ER_LOCK_DEADLOCK, "40001", "Deadlock found"))
	c := dial(t, s)

	r, err := c.Execute("SELECT a, b FROM t")
	require.NoError(t, err)
	require.Equal(t, 2, r.RowNumber())
	v, _ := r.GetString(1, 1)
	require.Equal(t, "y", v)

	r, err = c.Execute("INSERT INTO t VALUES (1)")
	require.NoError(t, err)
	require.EqualValues(t, 3, r.AffectedRows)
	require.EqualValues(t, 42, r.InsertId)
	require.NotNil(t, r.SessionTracking)
	require.Equal(t, "uuid:7", r.SessionTracking.GTID)

	_, err = c.Execute("update t set a = 1")
	require.Equal(t, uint16(mysql.ER_LOCK_DEADLOCK), myErr(t, err).Code)

	r, err = c.Execute("SELECT @@port")
	require.NoError(t, err)
	port, _ := r.GetInt(0, 0)
	require.EqualValues(t, s.Port, port)

	require.Equal(t, []string{"SELECT a, b FROM t", "INSERT INTO t VALUES (1)", "update t set a = 1", "SELECT @@port"},
		s.Statements())
	require.Equal(t, 1, s.Count(mysql.COM_QUERY, "insert"))
	last := s.Received()[len(s.Received())-1]
	require.Equal(t, Command{Conn: c.GetConnectionID(), User: User, Cmd: mysql.COM_QUERY, Arg: "SELECT @@port"}, last)
}

func TestTransactionStatusAndTimes(t *testing.T) {
	s := Start(t)
	s.On("select 1", Reply{Err: &mysql.MyError{Code: 1105, State: "HY000", Message: "once"}, Times: 1})
	c := dial(t, s)
	_, err := c.Execute("select 1")
	require.Equal(t, uint16(1105), myErr(t, err).Code)
	_, err = c.Execute("select 1")
	require.NoError(t, err, "a Times: 1 rule answers once")

	r, err := c.Execute("BEGIN")
	require.NoError(t, err)
	require.NotZero(t, r.Status&mysql.SERVER_STATUS_IN_TRANS)
	r, err = c.Execute("select 2")
	require.NoError(t, err)
	require.NotZero(t, r.Status&mysql.SERVER_STATUS_IN_TRANS, "the transaction stays open")
	r, err = c.Execute("COMMIT")
	require.NoError(t, err)
	require.Zero(t, r.Status&mysql.SERVER_STATUS_IN_TRANS)
	require.NotZero(t, r.Status&mysql.SERVER_STATUS_AUTOCOMMIT)
}

func TestPreparedStatements(t *testing.T) {
	s := Start(t)
	s.On("select v from t where id", Rows([]string{"v"}, []any{"hello"}))
	c := dial(t, s)
	st, err := c.Prepare("SELECT v FROM t WHERE id = ?")
	require.NoError(t, err)
	require.Equal(t, 1, st.ParamNum())
	require.Equal(t, 1, st.ColumnNum())
	r, err := st.Execute(5)
	require.NoError(t, err)
	v, _ := r.GetString(0, 0)
	require.Equal(t, "hello", v)
	require.Equal(t, 1, s.Count(mysql.COM_STMT_EXECUTE, "SELECT v FROM t"))
	require.NoError(t, st.Close())
	_, err = st.Execute(5)
	require.Equal(t, uint16(mysql.ER_UNKNOWN_STMT_HANDLER), myErr(t, err).Code)
}

func TestCutsAndLogins(t *testing.T) {
	s := Start(t)
	s.On("select before", Reply{Cut: CutBefore})
	s.On("select mid", Reply{Cut: CutMid})
	for _, q := range []string{"select before", "select mid"} {
		c := dial(t, s)
		_, err := c.Execute(q)
		require.Error(t, err, q)
		var me *mysql.MyError
		require.False(t, errors.As(err, &me), "%s: a cut is a broken connection, not a server error", q)
	}
	require.Equal(t, 2, s.Logins())

	s.RejectLogins(mysql.NewDefaultError(mysql.ER_CON_COUNT_ERROR))
	_, err := client.Connect(s.Addr, User, Password, "")
	require.Equal(t, uint16(mysql.ER_CON_COUNT_ERROR), myErr(t, err).Code)
	s.RejectLogins(nil)
	c := dial(t, s)
	require.NoError(t, c.Ping())
	require.Equal(t, 3, s.Logins())
	// The refused and the cut connections are closed by the server after
	// the client read their end: counted out asynchronously.
	require.Eventually(t, func() bool { return s.Open() == 1 }, 10*time.Second, 5*time.Millisecond,
		"only the pinged connection stays open")
	s.CloseAll()
	require.Error(t, c.Ping())
	require.Eventually(t, func() bool { return s.Open() == 0 }, 10*time.Second, 5*time.Millisecond)
}

// A delayed reply ends early with 1317 when another connection kills the
// query, as on a real server.
func TestDelayKilled(t *testing.T) {
	s := Start(t)
	s.On("select sleep", Reply{Delay: time.Hour})
	victim, killer := dial(t, s), dial(t, s)
	done := make(chan error, 1)
	go func() { _, err := victim.Execute("SELECT SLEEP(3600)"); done <- err }()
	require.Eventually(t, func() bool { return s.Count(mysql.COM_QUERY, "select sleep") == 1 }, 10*time.Second, 5*time.Millisecond)
	_, err := killer.Execute("KILL QUERY " + strconv.FormatUint(uint64(victim.GetConnectionID()), 10))
	require.NoError(t, err)
	require.Equal(t, uint16(mysql.ER_QUERY_INTERRUPTED), myErr(t, <-done).Code)
	require.NoError(t, victim.Ping(), "KILL QUERY keeps the connection")

	_, err = killer.Execute("KILL 999999")
	require.Equal(t, uint16(mysql.ER_NO_SUCH_THREAD), myErr(t, err).Code)
}
