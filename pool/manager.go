package pool

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"go.uber.org/zap"
)

// Options configure every pool of a Manager.
type Options struct {
	ConnectTimeout time.Duration
	IdleTimeout    time.Duration
	MaxLifetime    time.Duration
	PingAfter      time.Duration
	WaitTimeout    time.Duration
	MaxIdle        int
	MinIdle        int
	// StmtCacheSize bounds prepared statements per backend connection.
	StmtCacheSize int
	// Dial opens the network connection to a backend (the MySQL login
	// follows on it); nil: TCP. Tests inject failures or count dials here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// QueryAttributes negotiates CLIENT_QUERY_ATTRIBUTES with servers that
	// offer it (MySQL 8.0.23+; with tracing on, to forward traceparent):
	// Conn.QueryAttrs says whether a connection has it, and its user must
	// then send COM_QUERY and COM_STMT_EXECUTE in that form. Off, no
	// connection has it.
	QueryAttributes bool
	// ReuseWait caps how long a Get that finds no idle connection waits
	// for one in use to come back before it opens a new one (see
	// awaitReturn); 0 opens at once.
	ReuseWait time.Duration
}

// DefaultReuseWait is Options.ReuseWait as rwproxy runs.
const DefaultReuseWait = 50 * time.Millisecond

// server is the per-address state shared by the pools of all users.
type server struct {
	addr     string
	stats    *ServerStats
	draining atomic.Bool
	// sem holds one token per open connection; its capacity is the
	// server's max_connections.
	sem chan struct{}
	// freed wakes one waiter when a connection returns to an idle list or
	// a slot frees.
	freed chan struct{}
	// closedByServerAt (unix ns) is when a discarded connection was found
	// closed by the server: for suspectFor after it, every idle connection
	// is checked before it is handed out, however short it idled.
	closedByServerAt atomic.Int64
	// awaiting counts the Gets waiting in awaitReturn.
	awaiting atomic.Int64
	// dialing counts the connections being opened (dialCounted).
	dialing atomic.Int64
	// slackAt (unix ns) is when a connection last came back while no Get
	// waited for one: the pool had more connections than requests;
	// shortAt when one last came back to a waiting Get, and shortSince
	// when the current run of such returns began (the first after a
	// return with slack, or after none came back for slackWindow).
	slackAt, shortAt, shortSince atomic.Int64
	// dialNs is a moving average of how long opening a connection took
	// (0 before the first).
	dialNs atomic.Int64
	// holdNs is a moving average of how long a checkout lasted (from the
	// pool handing a connection out to its return; 0 before the first).
	holdNs atomic.Int64
}

// suspect reports whether a connection to the server was found closed by
// it less than suspectFor before now.
func (s *server) suspect(now time.Time) bool {
	at := s.closedByServerAt.Load()
	return at != 0 && now.UnixNano()-at < int64(suspectFor)
}

func newServer(addr string, stats *ServerStats, maxConns int) *server {
	return &server{addr: addr, stats: stats, sem: make(chan struct{}, maxConns), freed: make(chan struct{}, 1)}
}

func (s *server) tryAcquire() bool {
	select {
	case s.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// release frees one slot. It never blocks: a release without a slot held
// (a bug, made impossible by Conn's released flag) is ignored rather than
// waiting for a slot some other connection holds.
func (s *server) release() {
	select {
	case <-s.sem:
	default:
	}
	s.wake()
}

func (s *server) wake() {
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// Manager owns all pools. Get is the only call on the query path.
type Manager struct {
	opts Options
	lg   *zap.Logger

	mu struct {
		sync.Mutex
		pools   map[Key]*Pool
		servers map[string]*server
		closed  bool
	}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// tlsFor decides TLS for each dial (tls.go); nil: plain connections.
	tlsFor atomic.Pointer[TLSFunc]
	// refusalLogged (unix nanos) rate-limits the log of refused logins.
	refusalLogged atomic.Int64
}

// refusalLogEvery bounds how often a refused backend login is logged: a
// pool dials again for every statement that needs a connection.
const refusalLogEvery = 10 * time.Second

// logRefusal logs a backend login refused for its authentication plugin
// (protocol.LoginGuard), at most once per refusalLogEvery.
func (m *Manager) logRefusal(k Key, err error) {
	now := time.Now().UnixNano()
	last := m.refusalLogged.Load()
	if now-last < int64(refusalLogEvery) || !m.refusalLogged.CompareAndSwap(last, now) {
		return
	}
	m.lg.Error("backend login refused: the server asked for an authentication plugin that would send the password "+
		"without TLS", zap.String("backend_addr", k.Addr), zap.String("user", k.User), zap.Error(err))
}

// NewManager starts a Manager and its idle-connection reaper.
func NewManager(opts Options, lg *zap.Logger) *Manager {
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = 64
	}
	if opts.StmtCacheSize <= 0 {
		opts.StmtCacheSize = 256
	}
	m := &Manager{opts: opts, lg: lg}
	m.mu.pools = make(map[Key]*Pool)
	m.mu.servers = make(map[string]*server)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if opts.IdleTimeout > 0 {
		m.wg.Go(func() { m.reapLoop(ctx) })
	}
	return m
}

// SetServer declares a server and its connection limit. Changing the limit
// of a known server takes effect for new connections only.
func (m *Manager) SetServer(addr string, maxConns int) {
	if maxConns <= 0 {
		maxConns = 1000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.mu.servers[addr]; ok {
		s.draining.Store(false)
		if cap(s.sem) == maxConns {
			return
		}
		ns := newServer(addr, s.stats, maxConns)
		m.mu.servers[addr] = ns
		for k, p := range m.mu.pools {
			if k.Addr == addr {
				p.close()
				delete(m.mu.pools, k)
			}
		}
		return
	}
	m.mu.servers[addr] = newServer(addr, &ServerStats{}, maxConns)
}

// Drain stops handing out idle connections to addr and closes them; busy
// ones close when returned.
func (m *Manager) Drain(addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.mu.servers[addr]; ok {
		s.draining.Store(true)
	}
	for k, p := range m.mu.pools {
		if k.Addr == addr {
			p.close()
			delete(m.mu.pools, k)
		}
	}
}

// Stats returns the counters of addr, or nil for an unknown server.
func (m *Manager) Stats(addr string) *ServerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.mu.servers[addr]; ok {
		return s.stats
	}
	return nil
}

// WaitTimeout is how long Get waits for a free connection before it
// fails with ErrWaitTimeout.
func (m *Manager) WaitTimeout() time.Duration { return m.opts.WaitTimeout }

// dialer is the dialer of one new connection: Options.Dial (or TCP), with
// everything that follows on the connection (the MySQL login) bounded by
// deadline.
func (m *Manager) dialer(deadline time.Time) client.Dialer {
	dial := m.opts.Dial
	if dial == nil {
		return DeadlineDialer(deadline)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		_ = nc.SetDeadline(deadline)
		return nc, nil
	}
}

// Get returns a connection for key, logging in with password when it has
// to dial.
func (m *Manager) Get(ctx context.Context, key Key, password string) (*Conn, error) {
	p, err := m.pool(key, password)
	if err != nil {
		return nil, err
	}
	return p.get(ctx)
}

func (m *Manager) pool(key Key, password string) (*Pool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	p, ok := m.mu.pools[key]
	if ok && p.password == password {
		return p, nil
	}
	if ok { // the password changed: retire the old pool
		p.close()
	}
	srv, ok := m.mu.servers[key.Addr]
	if !ok {
		srv = newServer(key.Addr, &ServerStats{}, 1000)
		m.mu.servers[key.Addr] = srv
	}
	p = &Pool{key: key, password: password, srv: srv, m: m}
	m.mu.pools[key] = p
	return p, nil
}

// sibling returns the pool of p's key with NoSchema set to noSchema (the
// same server, user and options), or nil when the manager is closed.
func (m *Manager) sibling(p *Pool, noSchema bool) *Pool {
	k := p.key
	k.NoSchema = noSchema
	q, err := m.pool(k, p.password)
	if err != nil {
		return nil
	}
	return q
}

// closeIdleElsewhere closes one idle connection that another pool (another
// user) keeps on p's server, freeing a slot of the server's limit.
func (m *Manager) closeIdleElsewhere(p *Pool) bool {
	m.mu.Lock()
	var victim *Conn
	var owner *Pool
	for k, o := range m.mu.pools {
		if k.Addr != p.key.Addr || o == p {
			continue
		}
		if victim = o.popIdle(); victim != nil {
			owner = o
			break
		}
	}
	m.mu.Unlock()
	if victim == nil {
		return false
	}
	owner.closeIdleConn(victim)
	return true
}

func (m *Manager) reapLoop(ctx context.Context) {
	t := time.NewTicker(m.opts.IdleTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.mu.Lock()
			pools := make([]*Pool, 0, len(m.mu.pools))
			for _, p := range m.mu.pools {
				pools = append(pools, p)
			}
			m.mu.Unlock()
			for _, p := range pools {
				p.reap(now)
			}
		}
	}
}

// Close closes every idle connection and stops the reaper. Connections in
// use are closed when their sessions return them.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.mu.closed = true
	for k, p := range m.mu.pools {
		p.close()
		delete(m.mu.pools, k)
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}
