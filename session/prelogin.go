package session

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// PreLogin caps the client connections that have not finished logging in:
// in total (limits.max_unauthenticated) and per source address, IPv4
// address or IPv6 /64 (limits.max_unauthenticated_per_source). Each such
// connection costs memory and a goroutine for up to the handshake timeout
// before the proxy knows who it is; the caps bound that cost whatever a
// peer opens. It is safe for concurrent use; a nil PreLogin admits all.
type PreLogin struct {
	refused atomic.Uint64
	mu      struct {
		sync.Mutex
		total int
		// bySource holds only sources with a connection logging in, so it
		// never has more entries than connections logging in.
		bySource map[netip.Addr]int
	}
}

// NewPreLogin returns an empty PreLogin.
func NewPreLogin() *PreLogin {
	p := &PreLogin{}
	p.mu.bySource = make(map[netip.Addr]int)
	return p
}

// Refused counts the connections refused so far.
func (p *PreLogin) Refused() uint64 {
	if p == nil {
		return 0
	}
	return p.refused.Load()
}

// Unauthenticated is the number of connections logging in now.
func (p *PreLogin) Unauthenticated() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.total
}

// acquire takes a slot for a connection from addr under the caps (0 = no
// cap); release gives it back once the login is over, however it ended.
func (p *PreLogin) acquire(addr net.Addr, limits config.Limits) (release func(), ok bool) {
	if p == nil {
		return func() {}, true
	}
	key, keyed := sourceKey(addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	if max := limits.MaxUnauthenticated; max > 0 && p.mu.total >= max {
		p.refused.Add(1)
		return nil, false
	}
	if max := limits.MaxUnauthenticatedPerSource; keyed && max > 0 && p.mu.bySource[key] >= max {
		p.refused.Add(1)
		return nil, false
	}
	p.mu.total++
	if keyed {
		p.mu.bySource[key]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.mu.total--
			if keyed {
				if p.mu.bySource[key]--; p.mu.bySource[key] <= 0 {
					delete(p.mu.bySource, key)
				}
			}
		})
	}, true
}

// admit takes a pre-login slot for nc; a refused connection gets
// error 1040 in place of the server greeting and is closed.
func (p *PreLogin) admit(nc net.Conn, current func() *config.Config) (release func(), ok bool) {
	release, ok = p.acquire(nc.RemoteAddr(), current().Limits)
	if ok {
		return release, true
	}
	protocol.RefuseGreeting(nc, &mysql.MyError{Code: mysql.ER_CON_COUNT_ERROR, State: "08004",
		Message: "Too many connections: too many clients logging in at once (rwproxy limits.max_unauthenticated); retry later"})
	return nil, false
}
