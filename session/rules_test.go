package session

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// seenLog records the statements a fake backend received: "Q <text>" for
// COM_QUERY, "P <text>" for prepares, "E <text>" for executes.
type seenLog struct {
	mu  sync.Mutex
	all []string
}

func (l *seenLog) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

func (l *seenLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.all, s)
}

func (l *seenLog) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.all {
		if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

type seenBackend struct {
	mysqlserver.EmptyHandler
	log *seenLog
}

func (h seenBackend) HandleQuery(q string) (*mysql.Result, error) {
	h.log.add("Q " + q)
	return nil, nil
}

func (h seenBackend) HandleStmtPrepare(q string) (int, int, any, error) {
	h.log.add("P " + q)
	return 0, 0, nil, nil
}

func (h seenBackend) HandleStmtExecute(_ any, q string, _ []any) (*mysql.Result, error) {
	h.log.add("E " + q)
	return nil, nil
}

func (seenBackend) HandleOtherCommand(byte, []byte) error { return nil }

func startSeen(t *testing.T) (string, *seenLog) {
	l := &seenLog{}
	return fakebackend.Start(t, fakebackend.Options{
		Handler: func(net.Conn) mysqlserver.Handler { return seenBackend{log: l} }}), l
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func mustRules(t *testing.T, qs ...config.QueryRule) *router.Rules {
	t.Helper()
	for i := range qs {
		qs[i].Active = true
	}
	r, err := router.CompileRules(qs)
	require.NoError(t, err)
	return r
}

func iptr(v int) *int { return &v }

// rquery sends a COM_QUERY and returns its one-packet reply.
func rquery(t *testing.T, nc net.Conn, q string) []byte {
	t.Helper()
	send(t, nc, mysql.COM_QUERY, []byte(q)...)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	require.Len(t, ps, 1)
	return ps[0].payload
}

func requireOKPkt(t *testing.T, p []byte) {
	t.Helper()
	require.Equal(t, byte(mysql.OK_HEADER), p[0], "%q", p)
}

// TestRuleRewriteReachesBackend: replace_pattern rewrites text statements
// and prepared statements (at PREPARE, so every execute runs the new
// text); the backend never sees the original.
func TestRuleRewriteReachesBackend(t *testing.T) {
	addr, seen := startSeen(t)
	rt := &Routing{ReaderOf: map[int]int{}, Rules: mustRules(t,
		config.QueryRule{RuleID: 1, MatchPattern: `FROM (\w+)_old\b`, ReplacePattern: `FROM \1_new`})}
	nc, st := servedSession(t, hgPicker{10: addr}, rt, addr)

	requireOKPkt(t, rquery(t, nc, "SELECT a FROM orders_old WHERE id = 1"))
	require.True(t, seen.has("Q SELECT a FROM orders_new WHERE id = 1"), "%v", seen.all)
	require.False(t, seen.has("Q SELECT a FROM orders_old WHERE id = 1"))

	id := prepare(t, nc, "SELECT a FROM items_old")
	execute(t, nc, id)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	requireOKPkt(t, ps[0].payload)
	require.True(t, seen.has("P SELECT a FROM items_new"), "%v", seen.all)
	require.True(t, seen.has("E SELECT a FROM items_new"), "%v", seen.all)
	require.Zero(t, seen.count("P SELECT a FROM items_old"))
	require.EqualValues(t, 2, st.Rules.Rewrites.Load(), "one text statement, one prepare (not the execute)")
}

// TestRuleOKAndErrorMsg: OK_msg answers OK with its message and error_msg
// refuses; neither statement reaches the backend.
func TestRuleOKAndErrorMsg(t *testing.T) {
	addr, seen := startSeen(t)
	rt := &Routing{ReaderOf: map[int]int{}, Rules: mustRules(t,
		config.QueryRule{RuleID: 1, MatchPattern: `^SET sql_log_bin`, OKMsg: "ignored by rwproxy"},
		config.QueryRule{RuleID: 2, MatchPattern: `^DROP`, ErrorMsg: "DROP is not allowed here"})}
	nc, st := servedSession(t, hgPicker{10: addr}, rt, addr)

	ok := rquery(t, nc, "SET sql_log_bin = 0")
	requireOKPkt(t, ok)
	require.Contains(t, string(ok), "ignored by rwproxy")
	p := rquery(t, nc, "DROP TABLE t")
	require.Equal(t, byte(mysql.ERR_HEADER), p[0])
	require.EqualValues(t, mysql.ER_UNKNOWN_ERROR, binary.LittleEndian.Uint16(p[1:3]))
	require.Contains(t, string(p), "DROP is not allowed here")
	requireOKPkt(t, rquery(t, nc, "DO 1"))
	require.False(t, seen.has("Q SET sql_log_bin = 0"))
	require.False(t, seen.has("Q DROP TABLE t"))
	require.True(t, seen.has("Q DO 1"))
	require.EqualValues(t, 1, st.Rules.OKMsgs.Load())
	require.EqualValues(t, 1, st.Rules.Blocked.Load())
}

// TestRuleMirror: a matching statement, text or prepared, is copied to the
// mirror hostgroup; with a dead mirror the client's statements still
// succeed and the failures are counted.
func TestRuleMirror(t *testing.T) {
	addr, seen := startSeen(t)
	maddr, mseen := startSeen(t)
	dead := deadAddr(t)
	rt := &Routing{ReaderOf: map[int]int{}, Rules: mustRules(t,
		config.QueryRule{RuleID: 1, MatchPattern: `^INSERT INTO audit`, MirrorHostgroup: iptr(30)},
		config.QueryRule{RuleID: 2, MatchPattern: `^INSERT INTO lost`, MirrorHostgroup: iptr(31)},
		config.QueryRule{RuleID: 3, MatchPattern: `^INSERT INTO shadow`, MirrorHostgroup: iptr(30), MirrorFlagOUT: iptr(5)},
		config.QueryRule{RuleID: 4, FlagIN: 5, MatchPattern: `shadow`, ReplacePattern: `shadow_copy`})}
	var mirror *Mirror
	nc, _ := servedSessionWith(t, hgPicker{10: addr, 30: maddr, 31: dead}, func() *Routing { return rt },
		func(d *Deps) {
			mirror = NewMirror(d.Pools, d.Picker, zaptest.NewLogger(t))
			t.Cleanup(mirror.Close)
			d.Mirror = mirror
		}, addr, maddr, dead)

	requireOKPkt(t, rquery(t, nc, "INSERT INTO audit VALUES (1)"))
	id := prepare(t, nc, "INSERT INTO audit VALUES (2)")
	execute(t, nc, id)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	requireOKPkt(t, ps[0].payload)
	requireOKPkt(t, rquery(t, nc, "INSERT INTO shadow VALUES (3)"))
	for i := range 5 {
		requireOKPkt(t, rquery(t, nc, fmt.Sprintf("INSERT INTO lost VALUES (%d)", i)))
	}
	require.True(t, seen.has("Q INSERT INTO audit VALUES (1)"))
	require.True(t, seen.has("E INSERT INTO audit VALUES (2)"))
	require.True(t, seen.has("Q INSERT INTO shadow VALUES (3)"), "the client's statement is not rewritten")
	require.Eventually(t, func() bool {
		return mseen.has("Q INSERT INTO audit VALUES (1)") && mseen.has("P INSERT INTO audit VALUES (2)") &&
			mseen.has("E INSERT INTO audit VALUES (2)") && mseen.has("Q INSERT INTO shadow_copy VALUES (3)")
	}, 20*time.Second, 10*time.Millisecond, "mirror saw %v", mseen.all)
	require.Eventually(t, func() bool { return mirror.Stats.Failed.Load() == 5 }, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return mirror.Stats.Sent.Load() == 3 }, 20*time.Second, 10*time.Millisecond,
		"the worker counts a copy once it read the mirror's reply")
	require.Zero(t, mseen.count("Q INSERT INTO lost"))
}

// TestRuleMultiplexPins: multiplex=0 keeps the backend connection for the
// rest of the session (pin reason query_rule).
func TestRuleMultiplexPins(t *testing.T) {
	addr, _ := startSeen(t)
	rt := &Routing{ReaderOf: map[int]int{}, Rules: mustRules(t,
		config.QueryRule{RuleID: 1, MatchPattern: `^SELECT @stateful`, Multiplex: iptr(0)})}
	nc, st := servedSession(t, hgPicker{10: addr}, rt, addr)
	requireOKPkt(t, rquery(t, nc, "DO 1"))
	require.Zero(t, st.Pins[bitIndex(PinRule)].Load())
	requireOKPkt(t, rquery(t, nc, "SELECT @stateful"))
	// counted when the session keeps the connection, after the reply
	require.Eventually(t, func() bool { return st.Pins[bitIndex(PinRule)].Load() == 1 }, 20*time.Second, 5*time.Millisecond)
	requireOKPkt(t, rquery(t, nc, "DO 2"))
	require.EqualValues(t, 1, st.Pins[bitIndex(PinRule)].Load(), "still the same pinning")
}

func bitIndex(r PinReason) int {
	for i := range numPinReasons {
		if r == 1<<i {
			return i
		}
	}
	return -1
}

// TestFirewallLearnThenEnforce: in learn mode every statement runs and its
// digest is learned; enforced, learned and listed digests run, any other
// is refused with error 9030 and counted.
func TestFirewallLearnThenEnforce(t *testing.T) {
	addr, seen := startSeen(t)
	fw := NewFirewall()
	var mu sync.Mutex
	rt := &Routing{ReaderOf: map[int]int{}, Firewall: fw.Build(config.Firewall{
		Users: []config.FirewallUser{{Username: "u", Mode: config.FirewallLearn}}})}
	get := func() *Routing { mu.Lock(); defer mu.Unlock(); return rt }
	nc, _ := servedSessionWith(t, hgPicker{10: addr}, get, nil, addr)

	requireOKPkt(t, rquery(t, nc, "SELECT a FROM t WHERE id = 1"))
	requireOKPkt(t, rquery(t, nc, "DO 1"))

	listed := fmt.Sprintf("0x%016X", router.DigestHash(router.NewClassifier(nil).Digest("DELETE FROM t WHERE id = 1")))
	mu.Lock()
	rt = &Routing{ReaderOf: map[int]int{}, Firewall: fw.Build(config.Firewall{
		Users: []config.FirewallUser{{Username: "u", Mode: config.FirewallEnforce}},
		Allow: []config.FirewallAllow{{Username: "u", Digest: listed}}})}
	mu.Unlock()

	requireOKPkt(t, rquery(t, nc, "SELECT a FROM t WHERE id = 42")) // learned digest, other literal
	requireOKPkt(t, rquery(t, nc, "DELETE FROM t WHERE id = 7"))    // listed
	p := rquery(t, nc, "UPDATE t SET a = 1")                        // neither
	require.Equal(t, byte(mysql.ERR_HEADER), p[0])
	require.Equal(t, protocol.ErrCodeFirewall, binary.LittleEndian.Uint16(p[1:3]))
	require.Equal(t, "42000", string(p[4:9]))
	require.False(t, seen.has("Q UPDATE t SET a = 1"))
	require.True(t, seen.has("Q SELECT a FROM t WHERE id = 42"))

	us, ds := fw.Snapshot(get().Firewall)
	require.Len(t, us, 1)
	require.EqualValues(t, 1, us[0].Blocked)
	require.Equal(t, 2, us[0].Learned)
	require.Len(t, ds, 3, "two learned, one listed")
}

// TestFirewallLearnPeriod: once the learning period is over, the user is
// enforced against what was learned.
func TestFirewallLearnPeriod(t *testing.T) {
	fw := NewFirewall()
	now := time.Unix(1000, 0)
	fw.now = func() time.Time { return now }
	v := fw.Build(config.Firewall{Users: []config.FirewallUser{{Username: "u", Mode: config.FirewallLearn,
		LearnPeriod: time.Minute}}})
	s := &Session{d: &Deps{Log: zaptest.NewLogger(t)}, cls: router.NewClassifier(nil), user: config.User{Username: "u"}}
	check := func(q string) *mysql.MyError {
		st := s.cls.Classify(q)
		return s.firewall(v, &st, q)
	}
	require.Nil(t, check("SELECT 1"))
	now = now.Add(2 * time.Minute)
	require.Nil(t, check("SELECT 2"), "same digest as learned")
	me := check("SELECT a FROM t")
	require.NotNil(t, me)
	require.Equal(t, protocol.ErrCodeFirewall, me.Code)
	// a rebuild with the same mode and period keeps the period's start
	v = fw.Build(config.Firewall{Users: []config.FirewallUser{{Username: "u", Mode: config.FirewallLearn,
		LearnPeriod: time.Minute}}})
	require.NotNil(t, check("SELECT a FROM t"))
}

// TestRuleRetriesZero: a rule with retries=0 turns off the re-run of a
// read that failed on a replica before any reply (the client gets the
// lost-backend error), and other reads keep theirs.
func TestRuleRetriesZero(t *testing.T) {
	var ran atomic.Int32
	writer := fakebackend.Start(t, fakebackend.Options{
		Handler: func(net.Conn) mysqlserver.Handler { return writerBackend{ran: &ran} }})
	reader := startDying(t)
	rt := &Routing{ReaderOf: map[int]int{10: 20}, Rules: mustRules(t,
		config.QueryRule{RuleID: 1, MatchPattern: `no_retry`, Retries: iptr(0)})}
	nc, st := servedSession(t, hgPicker{10: writer, 20: reader}, rt, writer, reader)

	send(t, nc, mysql.COM_QUERY, []byte("SELECT die_before, no_retry FROM t")...)
	ps, closed := reply(t, nc, single)
	requireLostErr(t, ps, closed, "HY000")
	require.Zero(t, st.ReadRetries.Load())
	require.Zero(t, ran.Load(), "not re-run on the writer")

	send(t, nc, mysql.COM_QUERY, []byte("SELECT die_before FROM t")...)
	ps, closed = reply(t, nc, single)
	require.False(t, closed)
	requireOKPkt(t, ps[0].payload)
	require.EqualValues(t, 1, st.ReadRetries.Load())
}

// TestRuleStickyConn: after a sticky_conn rule matched, the session's
// reads that no rule routes go to that statement's hostgroup; writes still
// go to the writer.
func TestRuleStickyConn(t *testing.T) {
	w, wseen := startSeen(t)
	r, rseen := startSeen(t)
	x, xseen := startSeen(t)
	rt := &Routing{ReaderOf: map[int]int{10: 20}, Rules: mustRules(t,
		config.QueryRule{RuleID: 1, MatchPattern: `^SELECT sticky`, StickyConn: true, DestinationHostgroup: iptr(30)})}
	nc, _ := servedSession(t, hgPicker{10: w, 20: r, 30: x}, rt, w, r, x)
	requireOKPkt(t, rquery(t, nc, "SELECT 1 FROM before_sticky"))
	requireOKPkt(t, rquery(t, nc, "SELECT sticky"))
	requireOKPkt(t, rquery(t, nc, "SELECT 2 FROM after_sticky"))
	requireOKPkt(t, rquery(t, nc, "INSERT INTO t VALUES (1)"))
	require.True(t, rseen.has("Q SELECT 1 FROM before_sticky"))
	require.True(t, xseen.has("Q SELECT sticky"))
	require.True(t, xseen.has("Q SELECT 2 FROM after_sticky"), "reads follow the sticky rule's hostgroup")
	require.False(t, rseen.has("Q SELECT 2 FROM after_sticky"))
	require.True(t, wseen.has("Q INSERT INTO t VALUES (1)"), "writes stay on the writer")
}
