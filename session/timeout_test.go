package session

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// fakeKill records the KILLs a stmtTimer sends; release, when set, blocks
// each KILL until it is closed.
type fakeKill struct {
	calls   atomic.Int32
	started chan *pool.Conn
	release chan struct{}
	err     error
}

func newTimer(k *fakeKill) *stmtTimer {
	st := &stmtTimer{}
	st.mu.cond.L = &st.mu.Mutex
	k.started = make(chan *pool.Conn, 10)
	st.kill = func(c *pool.Conn) error {
		k.calls.Add(1)
		k.started <- c
		if k.release != nil {
			<-k.release
		}
		return k.err
	}
	return st
}

func TestStmtTimerFinishesFirst(t *testing.T) {
	k := &fakeKill{}
	st := newTimer(k)
	c := &pool.Conn{}
	for range 3 { // the timer is reused
		st.arm(c, time.Hour)
		require.False(t, st.timedOut())
		fired, err := st.disarm()
		require.False(t, fired)
		require.NoError(t, err)
	}
	require.Zero(t, k.calls.Load())
	st.stop()
}

func TestStmtTimerFires(t *testing.T) {
	k := &fakeKill{err: errors.New("no connection")}
	st := newTimer(k)
	c := &pool.Conn{}
	st.arm(c, time.Millisecond)
	require.Same(t, c, <-k.started, "the KILL names the armed statement's connection")
	require.True(t, st.timedOut(), "the interrupted error that follows the KILL is the timeout's")
	fired, err := st.disarm()
	require.True(t, fired)
	require.EqualError(t, err, "no connection")
	require.False(t, st.timedOut(), "a later statement's interrupted error is not this timeout's")

	// The next statement starts clean and can finish first.
	k.err = nil
	st.arm(c, time.Hour)
	require.False(t, st.timedOut())
	fired, err = st.disarm()
	require.False(t, fired)
	require.NoError(t, err)
	require.Equal(t, int32(1), k.calls.Load())
}

// TestStmtTimerDisarmWaitsForKill: a statement that ends while its KILL
// is in flight does not hand its connection on until the KILL is done, so
// the KILL cannot reach the connection's next statement.
func TestStmtTimerDisarmWaitsForKill(t *testing.T) {
	k := &fakeKill{release: make(chan struct{})}
	st := newTimer(k)
	st.arm(&pool.Conn{}, time.Millisecond)
	<-k.started
	done := make(chan bool)
	go func() {
		fired, _ := st.disarm()
		done <- fired
	}()
	select {
	case <-done:
		t.Fatal("disarm returned while the KILL was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(k.release)
	require.True(t, <-done)
}

// TestStmtTimerCancelledKill: when the timer expires but the statement
// has already been disarmed before the timer's function ran, no KILL is
// sent.
func TestStmtTimerCancelledKill(t *testing.T) {
	k := &fakeKill{}
	st := newTimer(k)
	st.arm(&pool.Conn{}, time.Hour)
	// What disarm does when Stop finds the timer already expired.
	st.mu.Lock()
	st.mu.conn = nil
	st.mu.Unlock()
	st.fire()
	require.Zero(t, k.calls.Load())
	require.False(t, st.timedOut())
	st.mu.Lock()
	require.False(t, st.mu.pending)
	st.mu.Unlock()
	require.True(t, st.t.Stop(), "the real timer was still armed")
}

// TestStmtTimerNoAllocs: once created, arming and disarming the timer per
// statement allocates nothing.
func TestStmtTimerNoAllocs(t *testing.T) {
	st := newTimer(&fakeKill{})
	c := &pool.Conn{}
	st.arm(c, time.Hour)
	st.disarm()
	allocs := testing.AllocsPerRun(100, func() {
		st.arm(c, time.Hour)
		st.disarm()
	})
	require.Zero(t, allocs)
}

func TestOnErr(t *testing.T) {
	k := &fakeKill{}
	s := &Session{}
	s.timer = *newTimer(k)
	// The copy's condition variable must use the copy's own mutex (it
	// pointed at the original's: disarm's Wait then unlocked a mutex it
	// never locked, a fatal error whenever the timer's kill was still
	// running, which a loaded machine makes likely).
	s.timer.mu.cond.L = &s.timer.mu.Mutex
	interrupted := mysql.NewDefaultError(mysql.ER_QUERY_INTERRUPTED)
	require.Nil(t, s.onErr(interrupted), "no timer yet: a user's KILL passes through")
	s.timer.arm(&pool.Conn{}, time.Hour)
	require.Nil(t, s.onErr(interrupted), "the timeout has not expired: a user's KILL")
	s.timer.disarm()
	s.timer.arm(&pool.Conn{}, time.Millisecond)
	<-k.started
	require.Equal(t, protocol.NewErrQueryTimeout(), s.onErr(interrupted))
	require.Nil(t, s.onErr(mysql.NewDefaultError(mysql.ER_NO_SUCH_TABLE, "db", "t")), "other errors pass through")
	s.timer.disarm()
}

func TestEffectiveTimeout(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name                       string
		rule, user, global, expect time.Duration
	}{
		{"none", 0, 0, 0, 0},
		{"global", 0, 0, 3 * ms, 3 * ms},
		{"user over global", 0, 2 * ms, 3 * ms, 2 * ms},
		{"rule over user", 1 * ms, 2 * ms, 3 * ms, 1 * ms},
		{"rule longer than user", 9 * ms, 2 * ms, 0, 9 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.expect, effectiveTimeout(tc.rule, tc.user, tc.global))
		})
	}
}

// TestRouteTimeout: route gives each statement the timeout of the rules
// it matches, else its user's, else the global one, also when the session
// is pinned (where the rules' destinations do not apply).
func TestRouteTimeout(t *testing.T) {
	hg := 20
	rules, err := router.CompileRules([]config.QueryRule{
		{RuleID: 1, Active: true, MatchDigest: "^SELECT SLEEP", Timeout: 500 * time.Millisecond},
		{RuleID: 2, Active: true, MatchDigest: "^SELECT `report`", DestinationHostgroup: &hg},
	})
	require.NoError(t, err)
	rt := &Routing{Rules: rules, ReaderOf: map[int]int{10: 20}, QueryTimeout: 10 * time.Second}
	s := &Session{d: &Deps{Routing: func() *Routing { return rt }, Stats: &Stats{}},
		cls: router.NewClassifier(nil), user: config.User{Username: "app", DefaultHostgroup: 10}}
	timeoutOf := func(sql string) time.Duration {
		st := s.cls.Classify(sql)
		var r request
		_, me := s.route(&r, &st, sql)
		require.Nil(t, me)
		return r.timeout
	}
	require.Equal(t, 500*time.Millisecond, timeoutOf("SELECT SLEEP(5)"))
	require.Equal(t, 10*time.Second, timeoutOf("SELECT 1"), "global")
	require.Equal(t, 10*time.Second, timeoutOf("SELECT `report` FROM t"), "a matching rule without timeout")
	s.user.QueryTimeout = 2 * time.Second
	require.Equal(t, 2*time.Second, timeoutOf("SELECT 1"), "user over global")
	require.Equal(t, 500*time.Millisecond, timeoutOf("SELECT SLEEP(5)"), "rule over user")

	s.pinned = &pool.Conn{}
	require.Equal(t, 500*time.Millisecond, timeoutOf("SELECT SLEEP(5)"), "pinned: the rule's timeout still applies")
	require.Equal(t, 2*time.Second, timeoutOf("SELECT 1"))
	s.pinned = nil

	rt = &Routing{ReaderOf: map[int]int{10: 20}}
	s.user.QueryTimeout = 0
	require.Zero(t, timeoutOf("SELECT SLEEP(5)"), "no timeout anywhere")
}

// BenchmarkStmtTimer is what a statement with a timeout pays on top of
// running: arming and disarming the session's timer.
func BenchmarkStmtTimer(b *testing.B) {
	st := newTimer(&fakeKill{})
	c := &pool.Conn{}
	b.ReportAllocs()
	for b.Loop() {
		st.arm(c, time.Hour)
		st.disarm()
	}
}

// BenchmarkRoute routes a point select with no rules and no timeout (the
// common case) and with a global timeout.
func BenchmarkRoute(b *testing.B) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"no timeout", 0}, {"global timeout", time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			rt := &Routing{ReaderOf: map[int]int{10: 20}, QueryTimeout: tc.timeout}
			s := &Session{d: &Deps{Routing: func() *Routing { return rt }, Stats: &Stats{}},
				cls: router.NewClassifier(router.NewCache(0)), user: config.User{Username: "app", DefaultHostgroup: 10}}
			sql := "SELECT c FROM sbtest1 WHERE id = 42"
			b.ReportAllocs()
			for b.Loop() {
				st := s.cls.Classify(sql)
				var r request
				if _, me := s.route(&r, &st, sql); me != nil {
					b.Fatal(me)
				}
			}
		})
	}
}
