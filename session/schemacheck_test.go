package session

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
	"github.com/rwproxy/rwproxy/protocol"
)

// TestSchemaChecksShared: logins naming a schema while its check runs wait
// for that check and get its result; another schema is checked on its
// own; a login after the check ended checks again (nothing is cached).
func TestSchemaChecksShared(t *testing.T) {
	var c schemaChecks
	k := schemaKey{user: "app", hg: 10, db: "sbtest"}
	bad := &mysql.MyError{Code: mysql.ER_BAD_DB_ERROR, State: "42000", Message: "Unknown database 'sbtest'"}
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	slow := func() *mysql.MyError {
		calls.Add(1)
		close(entered)
		<-release
		return bad
	}
	other := func() *mysql.MyError { calls.Add(1); return nil }

	results := make([]*mysql.MyError, 6)
	var wg sync.WaitGroup
	wg.Go(func() { results[0] = c.do(k, slow) })
	<-entered
	for i := 1; i < 6; i++ {
		wg.Go(func() { results[i] = c.do(k, other) })
	}
	require.Eventually(t, func() bool { return c.waiters() == 5 }, 30*time.Second, time.Millisecond)
	require.Nil(t, c.do(schemaKey{user: "app", hg: 10, db: "other"}, other), "another schema is checked on its own")
	close(release)
	wg.Wait()
	for i, r := range results {
		require.Same(t, bad, r, "login %d", i)
	}
	require.EqualValues(t, 2, calls.Load(), "one check for sbtest, one for the other schema")
	require.Nil(t, c.do(k, other), "a login after the check ended checks again")
	require.EqualValues(t, 3, calls.Load())
	require.Zero(t, c.waiters())
}

// TestSchemaChecksPanic: a check that panics fails the logins waiting on
// it rather than letting them in unchecked.
func TestSchemaChecksPanic(t *testing.T) {
	var c schemaChecks
	k := schemaKey{user: "app", hg: 10, db: "sbtest"}
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() { _ = recover() }()
		c.do(k, func() *mysql.MyError { close(entered); <-release; panic("check broke") })
	})
	<-entered
	var got *mysql.MyError
	wg.Go(func() { got = c.do(k, func() *mysql.MyError { return nil }) })
	require.Eventually(t, func() bool { return c.waiters() == 1 }, 30*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	require.NotNil(t, got)
	require.Equal(t, protocol.ErrCodeInternal, got.Code)
}

// TestLoginsShareSchemaCheck: sixteen clients logging in at once with a
// schema take one backend connection to the writer between them, not one
// each (the first check holds its connection while USE is answered late,
// so that the others arrive meanwhile), and every login succeeds.
func TestLoginsShareSchemaCheck(t *testing.T) {
	h := newQP(t)
	h.writer.On("USE app_db", fakemysql.Reply{Delay: 200 * time.Millisecond})
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := client.Connect(h.addr, fakemysql.User, fakemysql.Password, "app_db")
			if err == nil {
				_ = c.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "login %d", i)
	}
	require.Equal(t, 1, h.writer.Logins(), "one backend connection checked the schema for all the logins")
	require.Equal(t, 0, h.r1.Logins()+h.r2.Logins())
}
