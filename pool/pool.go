package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
)

// Sentinel errors.
var (
	ErrClosed      = errors.New("pool: closed")
	ErrWaitTimeout = errors.New("pool: timed out waiting for a free backend connection (server max_connections reached)")
)

// BaselineCollation is the collation every backend connection starts
// with; sessions whose client asked for another one replay it.
const BaselineCollation = "utf8mb4_general_ci"

// InitSQL runs once on every new backend connection: the server reports
// every session variable change, schema change and other state change in
// its OK packets, which is how rwproxy tracks session state exactly.
const InitSQL = "SET SESSION session_track_system_variables='*', session_track_schema=ON, session_track_state_change=ON"

// mysqlGTIDTracker makes MySQL report the GTID of each transaction the
// session commits in its OK packet (read-your-writes); MariaDB reports
// last_gtid as a system variable instead, and has no session_track_gtids.
const mysqlGTIDTracker = ", session_track_gtids=OWN_GTID"

// InitSQLFor is InitSQL for a server of the given version string.
func InitSQLFor(serverVersion string) string {
	if strings.Contains(strings.ToLower(serverVersion), "mariadb") {
		return InitSQL
	}
	return InitSQL + mysqlGTIDTracker
}

// Key identifies a pool: connections in one pool are interchangeable.
type Key struct {
	Addr string
	User string
	// FoundRows is CLIENT_FOUND_ROWS, which changes affected-row counts
	// and can only be chosen at connect time.
	FoundRows bool
	// NoSchema: for sessions without a current schema. A server cannot
	// unselect a schema, so these connections never have one: one that got
	// a schema (its session ran USE) is returned to the pool of the same
	// key with a schema (and one that lost its schema, to this one).
	NoSchema bool
}

// ServerStats are counters per backend server, shared by its pools.
type ServerStats struct {
	ConnUsed  atomic.Int64
	ConnFree  atomic.Int64
	ConnOK    atomic.Uint64
	ConnERR   atomic.Uint64
	Queries   atomic.Uint64
	BytesSent atomic.Uint64 // to the backend
	BytesRecv atomic.Uint64 // from the backend
	LatencyUs atomic.Uint64 // total, for an average
	// InFlight counts requests sent and not yet answered, and Gets still
	// dialing or waiting for a connection to this server: the work the
	// balancers (least_outstanding, adaptive) see queued on it. A Get that
	// takes an idle connection adds nothing.
	InFlight atomic.Int64
	// DoubleReleases counts connections returned to the pool a second
	// time for one checkout (a bug; the second release is ignored).
	DoubleReleases atomic.Uint64
	// MaxConnUsed is the highest ConnUsed seen (ProxySQL's MaxConnUsed).
	MaxConnUsed atomic.Int64
	// GTIDSync counts reads this server served after its GTID check for
	// read-your-writes passed (ProxySQL's Queries_GTID_sync).
	GTIDSync atomic.Uint64
	// ReuseWaits counts Gets that found no idle connection and, instead
	// of opening one, took one that came back meanwhile (awaitReturn).
	ReuseWaits atomic.Uint64
	// StallWaits counts the awaitReturn waits that went on up to
	// ReuseWait because the server returned nothing: none for as long as
	// the usual wait when it began, or none during it.
	StallWaits atomic.Uint64
}

// addUsed counts one more connection in use and keeps MaxConnUsed.
func (s *ServerStats) addUsed() {
	n := s.ConnUsed.Add(1)
	for {
		m := s.MaxConnUsed.Load()
		if n <= m || s.MaxConnUsed.CompareAndSwap(m, n) {
			return
		}
	}
}

// Pool holds idle connections for one Key.
type Pool struct {
	key      Key
	password string
	srv      *server
	m        *Manager

	mu struct {
		sync.Mutex
		idle   []*Conn
		closed bool
	}
}

// get returns an idle connection that is still usable, or dials a new one.
// When the server is at max_connections it frees a slot held by another
// user's idle connection, or waits (up to WaitTimeout) for a connection to
// come back or a slot to free.
func (p *Pool) get(ctx context.Context) (*Conn, error) {
	if c := p.usableIdle(); c != nil {
		return p.handOut(c), nil
	}
	// Dialing or waiting: the statement is already this server's work. A
	// balancer that saw nothing in flight here while connections were
	// being opened (slowly, on a loaded server) sent every statement of
	// the moment to it.
	p.srv.stats.InFlight.Add(1)
	defer p.srv.stats.InFlight.Add(-1)
	if c, err := p.awaitReturn(ctx); c != nil || err != nil {
		return c, err
	}
	return p.getSlow(ctx)
}

// Waiting for a connection to come back instead of opening one
// (awaitReturn). A burst of statements larger than the idle list, or a
// server that answers slowly for a moment while the others' statements
// come back and are sent to it in turn, would otherwise leave a new
// connection behind for each statement of the moment, idle the next; and
// opening one costs a login and a setup statement on the same server,
// usually longer than waiting for one of its statements to end.
//
// slackWindow: under a sustained demand larger than the pool every
// connection that comes back goes to a waiting Get; once that has gone on
// for slackWindow with no connection to spare, Gets open connections at
// once again until the pool has grown to the demand. A load that only
// sometimes exceeds the pool keeps it smaller instead: the Gets over it
// wait for the others' connections (docs/architecture.md, "How the pool
// grows"). A variable for tests.
var slackWindow = 100 * time.Millisecond

const (
	// minReuseWait is the shortest wait while no dial has been timed.
	minReuseWait = 100 * time.Microsecond
	// firstReuseWait is the wait before the first dial to the server was
	// timed.
	firstReuseWait = time.Millisecond
	// reuseWaitDials is the wait in dials: a server slow for a moment
	// (its threads off the CPU) is as slow to log a new connection in,
	// so a wait of about one dial ran out during the stalls that make
	// the pool grow; waits of 1×, 4× the dial average measured 30 and 22
	// backend connections (medians of 5) where ProxySQL held 33 and 28
	// (docs/benchmarks.md).
	reuseWaitDials = 4
)

// awaitReturn waits for a connection another statement returns to the
// pool, up to four times as long as opening one has taken lately (at
// most ReuseWait), when the server has at least as many connections in
// use or being opened as Gets waiting this way and is not short of
// connections for good (for slackWindow connections came back only to
// waiting Gets). nil, nil: none came back (or none was to be expected);
// the caller opens one.
//
// A connection being opened counts: it serves the statement that opens
// it, then comes back. Without it, a burst on an empty pool (after a
// start, or once the idle connections were closed) opened one connection
// per statement of the burst, each seeing nothing in use while the
// others were still logging in: 10,000 clients running 16 statements at
// a time through a fresh rwproxy opened 24 of their 28 connections so,
// in the first half second (docs/benchmarks.md).
//
// A server that answers nothing for a moment (no connection came back
// for as long as the wait, with some in use: its threads off the CPU, or
// stuck on a lock) would log a new connection in no sooner, so the Get
// waits up to ReuseWait, however many wait with it; so does one whose
// wait ran out with nothing back meanwhile. Without that, the statements
// the balancer kept sending to a replica that fell behind (12–16 of 16
// at a time, 10,000 clients) each opened a connection once more of them
// waited than it had in use.
func (p *Pool) awaitReturn(ctx context.Context) (*Conn, error) {
	limit := p.m.opts.ReuseWait
	if limit <= 0 {
		return nil, nil
	}
	s := p.srv
	n := s.awaiting.Add(1)
	defer s.awaiting.Add(-1)
	wait := firstReuseWait
	if d := s.dialNs.Load(); d > 0 {
		wait = reuseWaitDials * time.Duration(d)
	}
	wait = min(max(wait, minReuseWait), limit)
	began := time.Now().UnixNano()
	stalled := s.stalled(began, wait)
	if have := s.stats.ConnUsed.Load() + s.dialing.Load(); !stalled && n > have && !s.servesInTime(n, have, wait) {
		return nil, nil
	}
	if s.shortForGood(began) {
		return nil, nil
	}
	if stalled {
		wait = limit
		s.stats.StallWaits.Add(1)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-s.freed:
			if c := p.usableIdle(); c != nil {
				s.stats.ReuseWaits.Add(1)
				return p.handOut(c), nil
			}
		case <-t.C:
			if !stalled && wait < limit && !s.returnedSince(began) {
				// Nothing came back while this Get waited: wait on.
				stalled = true
				s.stats.StallWaits.Add(1)
				t.Reset(limit - wait)
				continue
			}
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// servesInTime reports whether the n-th Get waiting for one of the have
// connections in use (or being opened) can expect one back within wait:
// after ceil(n/have) checkouts of the average length (holdNs). Unknown
// (no checkout timed yet, or nothing in use): no.
func (s *server) servesInTime(n, have int64, wait time.Duration) bool {
	hold := s.holdNs.Load()
	if have <= 0 || hold <= 0 {
		return false
	}
	return (n+have-1)/have*hold <= int64(wait)
}

// stalled reports whether, at now, the server has connections in use and
// none came back for longer than wait (though one did before: a pool
// that never had a return is new, not stalled).
func (s *server) stalled(now int64, wait time.Duration) bool {
	last := s.lastReturn()
	return s.stats.ConnUsed.Load() > 0 && last > 0 && now-last > int64(wait)
}

// lastReturn is when a connection last came back to the server's idle
// list, to a waiting Get or not (unix ns; 0 before the first).
func (s *server) lastReturn() int64 { return max(s.slackAt.Load(), s.shortAt.Load()) }

// shortForGood reports whether, for slackWindow up to now, every
// connection that came back went to a waiting Get: the demand is larger
// than the pool, and Gets open connections at once. The run of such
// returns must itself have lasted slackWindow: a burst on a pool that was
// idle (or new, with no return with slack yet) is not a shortage for good
// at its first return to a waiting Get.
func (s *server) shortForGood(now int64) bool {
	since := s.shortSince.Load() // 0 before any run: never after slackAt
	return s.slackAt.Load() < since && now-since > int64(slackWindow) && now-s.shortAt.Load() <= int64(slackWindow)
}

// returnedSince reports whether a connection came back to the server's
// idle list (to a waiting Get or not) at or after since. markReturn
// records a return at most once a millisecond, so one within a
// millisecond after a recorded one counts as at that one.
func (s *server) returnedSince(since int64) bool {
	return s.lastReturn() >= since-int64(time.Millisecond)
}

// markReturn records, at now, that a connection came back to the idle
// list, to a waiting Get (short) or not. Written at most once a
// millisecond: every session returns its connection here.
func (s *server) markReturn(now int64, short bool) {
	if !short {
		if now-s.slackAt.Load() > int64(time.Millisecond) {
			s.slackAt.Store(now)
		}
		return
	}
	last := s.shortAt.Load()
	if now-last <= int64(time.Millisecond) {
		return
	}
	if since := s.shortSince.Load(); since <= s.slackAt.Load() || now-last > int64(slackWindow) {
		// A new run of returns to waiting Gets.
		s.shortSince.Store(now)
	}
	s.shortAt.Store(now)
}

// holdSample: one checkout in holdSample of each connection is timed
// (and a new connection's first), not to read the clock at every
// checkout and write the server's shared average at every return.
const holdSample = 8

// timeHold adds one checkout's length (capped at most: a connection
// held by a transaction or a long statement says little about the next
// statement's) to the server's moving average.
func (s *server) timeHold(d, most time.Duration) {
	addSample(&s.holdNs, min(max(d, 0), max(most, time.Millisecond)))
}

// timeDial adds one dial's duration to the server's moving average.
func (s *server) timeDial(d time.Duration) { addSample(&s.dialNs, d) }

// addSample adds d to the moving average avg (weight 1/8; the first
// sample sets it).
func addSample(avg *atomic.Int64, d time.Duration) {
	for {
		old := avg.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if avg.CompareAndSwap(old, next) {
			return
		}
	}
}

// handOut hands an idle connection out.
func (p *Pool) handOut(c *Conn) *Conn {
	p.srv.stats.addUsed()
	c.outAt = 0
	if c.checkouts++; c.checkouts%holdSample == 0 {
		c.outAt = time.Now().UnixNano()
	}
	c.released.Store(false)
	return c
}

// getSlow is get once no idle connection was there: it dials, or waits.
func (p *Pool) getSlow(ctx context.Context) (*Conn, error) {
	var timeout <-chan time.Time
	for {
		if c := p.usableIdle(); c != nil {
			return p.handOut(c), nil
		}
		if p.srv.tryAcquire() {
			return p.dialCounted(ctx)
		}
		if p.m.closeIdleElsewhere(p) {
			continue
		}
		if timeout == nil {
			t := time.NewTimer(p.m.opts.WaitTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-p.srv.freed:
		case <-time.After(waitPoll):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, ErrWaitTimeout
		}
	}
}

// waitPoll bounds a wait for a freed connection in case a wake-up was
// taken by another waiter.
const waitPoll = 10 * time.Millisecond

// usableIdle pops idle connections until one is within its lifetime and,
// when it idled long, answers a ping.
func (p *Pool) usableIdle() *Conn {
	now := time.Now()
	for {
		c := p.popIdle()
		if c == nil {
			return nil
		}
		if p.m.opts.MaxLifetime > 0 && now.Sub(c.created) > p.m.opts.MaxLifetime {
			p.closeIdleConn(c)
			continue
		}
		if (now.Sub(c.lastUsed) > aliveCheckAfter || p.srv.suspect(now)) && !alive(c.Conn.Conn.Conn) {
			p.closeIdleConn(c)
			continue
		}
		if p.m.opts.PingAfter > 0 && now.Sub(c.lastUsed) > p.m.opts.PingAfter {
			if err := c.pingWithDeadline(p.m.opts.ConnectTimeout); err != nil {
				p.closeIdleConn(c)
				continue
			}
		}
		return c
	}
}

func (p *Pool) dialCounted(ctx context.Context) (*Conn, error) {
	began := time.Now()
	p.srv.dialing.Add(1)
	c, err := p.dial(ctx)
	if err != nil {
		p.srv.dialing.Add(-1)
		p.srv.release()
		p.srv.stats.ConnERR.Add(1)
		return nil, err
	}
	now := time.Now()
	p.srv.timeDial(now.Sub(began))
	p.srv.stats.ConnOK.Add(1)
	// In use before it stops being counted as being opened: a Get in
	// between may wait for it, not open another one.
	p.srv.stats.addUsed()
	c.outAt = now.UnixNano()
	p.srv.dialing.Add(-1)
	return c, nil
}

func (p *Pool) popIdle() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.mu.idle)
	if n == 0 {
		return nil
	}
	c := p.mu.idle[n-1]
	p.mu.idle[n-1] = nil
	p.mu.idle = p.mu.idle[:n-1]
	p.srv.stats.ConnFree.Add(-1)
	return c
}

func (p *Pool) dial(ctx context.Context) (*Conn, error) {
	timeout := p.m.opts.ConnectTimeout
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Bound the handshake too: a server that accepts and never answers
	// must not hang the session.
	deadline, _ := dctx.Deadline()
	dialer := p.m.dialer(deadline)
	k := p.key
	bc, err := Connect(dctx, k.Addr, k.User, p.password, dialer, func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		if !p.m.opts.QueryAttributes {
			c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		}
		// CLIENT_LOCAL_FILES lets the server ask for a LOAD DATA LOCAL
		// file; the relay passes the request to the client, or refuses it
		// for a client that did not enable local files (protocol.InfileRelay).
		for _, f := range []uint32{mysql.CLIENT_MULTI_STATEMENTS, mysql.CLIENT_MULTI_RESULTS,
			mysql.CLIENT_PS_MULTI_RESULTS, mysql.CLIENT_SESSION_TRACK, mysql.CLIENT_LOCAL_FILES} {
			if err := c.SetCapability(f); err != nil {
				return err
			}
		}
		if k.FoundRows {
			if err := c.SetCapability(mysql.CLIENT_FOUND_ROWS); err != nil {
				return err
			}
		}
		c.SetAttributes(map[string]string{"program_name": "rwproxy"})
		if err := p.m.applyTLS(c, k.Addr); err != nil {
			return err
		}
		return c.SetCollation(BaselineCollation)
	})
	if err != nil {
		if errors.Is(err, protocol.ErrPluginRefused) {
			p.m.logRefusal(k, err)
		}
		return nil, fmt.Errorf("pool %s: dial: %w", k.Addr, err)
	}
	if _, err := bc.Execute(InitSQLFor(bc.GetServerVersion())); err != nil {
		_ = bc.Close()
		return nil, fmt.Errorf("pool %s: init: %w", k.Addr, err)
	}
	_ = bc.SetDeadline(time.Time{})
	now := time.Now()
	return &Conn{Conn: bc, pool: p, created: now, lastUsed: now, MultiStatements: true,
		Vars: make(map[string]string), Stmts: NewStmtCache(p.m.opts.StmtCacheSize),
		queryAttrs: p.m.opts.QueryAttributes && negotiated(bc, mysql.CLIENT_QUERY_ATTRIBUTES)}, nil
}

func (c *Conn) pingWithDeadline(d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	err := c.Ping()
	_ = c.SetDeadline(time.Time{})
	return err
}

// put returns c to the idle list, or closes it when the pool is closed or
// full, or the connection is past its lifetime.
func (p *Pool) put(c *Conn) {
	if noSchema := c.DB == ""; noSchema != p.key.NoSchema {
		if q := p.m.sibling(p, noSchema); q != nil {
			c.pool = q
			q.put(c)
			return
		}
		p.discard(c)
		return
	}
	p.srv.stats.ConnUsed.Add(-1)
	now := time.Now()
	c.lastUsed = now
	if c.outAt > 0 {
		p.srv.timeHold(time.Duration(now.UnixNano()-c.outAt), p.m.opts.ReuseWait)
	}
	if p.m.opts.MaxLifetime > 0 && now.Sub(c.created) > p.m.opts.MaxLifetime {
		p.closeConn(c)
		return
	}
	p.mu.Lock()
	if p.mu.closed || p.srv.draining.Load() || len(p.mu.idle) >= p.m.opts.MaxIdle {
		p.mu.Unlock()
		p.closeConn(c)
		return
	}
	p.mu.idle = append(p.mu.idle, c)
	p.mu.Unlock()
	p.srv.stats.ConnFree.Add(1)
	p.srv.markReturn(now.UnixNano(), p.srv.awaiting.Load() > 0)
	p.srv.wake()
}

// discard closes a connection in an unknown state; one the server had
// closed makes the server suspect (see suspectFor).
func (p *Pool) discard(c *Conn) {
	p.srv.stats.ConnUsed.Add(-1)
	if closedByServer(c.Conn.Conn.Conn) {
		p.srv.closedByServerAt.Store(time.Now().UnixNano())
	}
	p.closeConn(c)
}

// closeIdleConn closes a connection taken from the idle list (not in use).
func (p *Pool) closeIdleConn(c *Conn) { p.closeConn(c) }

func (p *Pool) closeConn(c *Conn) {
	_ = c.Close()
	p.srv.release()
}

// reap closes idle connections unused for longer than idleTimeout, keeping
// minIdle of them.
func (p *Pool) reap(now time.Time) {
	var victims []*Conn
	p.mu.Lock()
	keep := p.mu.idle[:0]
	for i, c := range p.mu.idle {
		// idle is LIFO: the oldest are first.
		if now.Sub(c.lastUsed) > p.m.opts.IdleTimeout && len(p.mu.idle)-i > p.m.opts.MinIdle {
			victims = append(victims, c)
			continue
		}
		keep = append(keep, c)
	}
	clear(p.mu.idle[len(keep):])
	p.mu.idle = keep
	p.mu.Unlock()
	for _, c := range victims {
		p.srv.stats.ConnFree.Add(-1)
		p.closeConn(c)
	}
}

// close closes every idle connection and marks the pool closed; busy
// connections are closed when they come back.
func (p *Pool) close() {
	p.mu.Lock()
	idle := p.mu.idle
	p.mu.idle = nil
	p.mu.closed = true
	p.mu.Unlock()
	for _, c := range idle {
		p.srv.stats.ConnFree.Add(-1)
		p.closeConn(c)
	}
}

// Connect logs in to a backend with go-mysql's client. go-mysql v1.16's
// client dereferences nil when a server asks for full caching_sha2_password
// authentication without TLS and sends no usable public key; that panic
// becomes an error here. The login runs through a protocol.LoginGuard:
// without TLS, a server asking for a plugin that would expose the password
// (mysql_clear_password, sha256_password, ...) gets no answer, and the
// error wraps protocol.ErrPluginRefused.
func Connect(ctx context.Context, addr, user, password string, dialer client.Dialer, opts ...client.Option) (c *client.Conn, err error) {
	var g *protocol.LoginGuard
	guarded := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dialer(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		g = protocol.NewLoginGuard(nc)
		return g, nil
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("pool %s: login failed inside the MySQL client library: %v", addr, r)
		}
		if err != nil && g != nil && g.Refused() != "" {
			_ = g.NetConn().Close()
			c, err = nil, fmt.Errorf("pool %s: %w", addr, &protocol.PluginRefusedError{Plugin: g.Refused()})
		}
	}()
	c, err = client.ConnectWithDialer(ctx, "tcp", addr, user, password, "", guarded, opts...)
	if err == nil && c.Conn.Conn == net.Conn(g) {
		// Plain connection: drop the guard (its work is done, and the
		// dead-connection check needs the socket itself).
		c.Conn.Conn = g.NetConn()
	}
	return c, err
}

// DeadlineDialer dials with ctx and bounds everything that follows on the
// connection (the MySQL handshake) by deadline; the caller clears the
// deadline once logged in.
func DeadlineDialer(deadline time.Time) client.Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		_ = nc.SetDeadline(deadline)
		return nc, nil
	}
}
