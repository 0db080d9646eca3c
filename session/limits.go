package session

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// ErrCodeQueryTooLong is the proxy error for a statement longer than
// limits.max_query_length (see protocol/errcodes.go for the 9000 range).
const ErrCodeQueryTooLong uint16 = 9004

// newErrQueryTooLong reports a statement of n bytes over limit.
func newErrQueryTooLong(n, limit int) *mysql.MyError {
	return &mysql.MyError{Code: ErrCodeQueryTooLong, State: "42000",
		Message: fmt.Sprintf("rwproxy: statement of %d bytes is longer than max_query_length (%d)", n, limit)}
}

// checkLimits returns the error that answers a request breaking one of the
// session limits of the current configuration, or nil: a statement longer
// than max_query_length, or a COM_STMT_PREPARE past max_prepared_statements
// (1461, as MySQL's max_prepared_stmt_count). pkt has its 4-byte header.
func (s *Session) checkLimits(pkt []byte) *mysql.MyError {
	cmd := pkt[4]
	if cmd != mysql.COM_QUERY && cmd != mysql.COM_STMT_PREPARE {
		return nil
	}
	l := s.d.Config().Limits
	if limit := l.QueryLimit(); limit > 0 && len(pkt)-5 > limit {
		return newErrQueryTooLong(len(pkt)-5, limit)
	}
	if cmd == mysql.COM_STMT_PREPARE && l.MaxPreparedStatements > 0 && len(s.stmts) >= l.MaxPreparedStatements {
		return mysql.NewDefaultError(mysql.ER_MAX_PREPARED_STMT_COUNT_REACHED, l.MaxPreparedStatements)
	}
	return nil
}

// maxPacket is the session's max_allowed_packet: the configuration's at
// the time the session starts, else Deps.MaxPacket.
func maxPacket(d *Deps) int {
	if n := d.Config().Limits.MaxAllowedPacket; n > 0 {
		return n
	}
	return d.MaxPacket
}

// requireTLS refuses a user with require_tls who logged in without TLS, as
// MySQL refuses an account created REQUIRE SSL: 1045, access denied.
func requireTLS(isTLS bool, u config.User, user string, from net.Addr) error {
	if !u.RequireTLS || isTLS {
		return nil
	}
	return mysql.NewDefaultError(mysql.ER_ACCESS_DENIED_ERROR, user, from.String(), mysql.MySQLErrName[mysql.ER_YES])
}

// LoginLimiter rate-limits new client connections per source with a token
// bucket per IPv4 address or IPv6 /64: a source gets login_burst
// connections at once and login_rate more per second. It is safe for
// concurrent use.
type LoginLimiter struct {
	now     func() time.Time
	max     int
	refused atomic.Uint64
	mu      struct {
		sync.Mutex
		buckets map[netip.Addr]*bucket
		swept   time.Time
		// overflow is the one bucket shared by every source that finds
		// the table full: past maxSources busy sources, new ones are
		// limited together as one source instead of not at all.
		overflow bucket
	}
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxSources bounds the sources tracked: a source whose bucket is full
// again is forgotten (a full bucket is what a new source gets, so
// forgetting it gives nothing away), a busy one is never evicted (that
// would hand it a full bucket), and beyond this many busy sources new ones
// share one overflow bucket: the table cannot grow without bound, and a
// flood from more addresses than that is still limited, as one source.
const maxSources = 1 << 16

// NewLoginLimiter returns an empty limiter.
func NewLoginLimiter() *LoginLimiter {
	l := &LoginLimiter{now: time.Now, max: maxSources}
	l.mu.buckets = make(map[netip.Addr]*bucket)
	return l
}

// Refused counts the connections refused so far.
func (l *LoginLimiter) Refused() uint64 {
	if l == nil {
		return 0
	}
	return l.refused.Load()
}

// Allow takes a token for a connection from addr, with the rate (per
// second; 0 = no limit) and burst of the current configuration.
func (l *LoginLimiter) Allow(addr net.Addr, rate float64, burst int) bool {
	if l == nil || rate <= 0 {
		return true
	}
	key, ok := sourceKey(addr)
	if !ok {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.mu.buckets[key]
	if b == nil {
		if len(l.mu.buckets) >= l.max {
			l.sweepLocked(now, rate, burst)
		}
		if len(l.mu.buckets) >= l.max {
			b = &l.mu.overflow
			if b.last.IsZero() {
				b.tokens, b.last = float64(burst), now
			}
		} else {
			b = &bucket{tokens: float64(burst), last: now}
			l.mu.buckets[key] = b
		}
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		l.refused.Add(1)
		return false
	}
	b.tokens--
	return true
}

// sweepLocked forgets sources whose bucket has refilled (they are as if
// never seen), at most once a second.
func (l *LoginLimiter) sweepLocked(now time.Time, rate float64, burst int) {
	if now.Sub(l.mu.swept) < time.Second {
		return
	}
	l.mu.swept = now
	for k, b := range l.mu.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst) {
			delete(l.mu.buckets, k)
		}
	}
}

// Sources is the number of sources tracked (tests).
func (l *LoginLimiter) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.buckets)
}

// sourceKey is the IPv4 address, or the /64 of an IPv6 address.
func sourceKey(addr net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip, true
}

// Admit takes a login token for nc under the limits of the current
// configuration. A refused connection gets error 1129 in place of the
// server greeting and is closed; Admit then returns false. A nil limiter
// admits everything.
func (l *LoginLimiter) Admit(nc net.Conn, current func() *config.Config) bool {
	if l == nil {
		return true
	}
	if lim := current().Limits; l.Allow(nc.RemoteAddr(), lim.LoginRate, lim.LoginBurst) {
		return true
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		host = nc.RemoteAddr().String()
	}
	e := &mysql.MyError{Code: mysql.ER_HOST_IS_BLOCKED, State: "HY000",
		Message: fmt.Sprintf("Host '%s' is blocked: too many connection attempts (rwproxy limits.login_rate); retry later", host)}
	protocol.RefuseGreeting(nc, e)
	return false
}
