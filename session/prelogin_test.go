package session

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

func tcpAddr(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

// TestPreLoginCaps: connections logging in are capped per source and in
// total; a slot comes back when its login ends, and a source with nothing
// logging in leaves no entry behind.
func TestPreLoginCaps(t *testing.T) {
	p := NewPreLogin()
	lim := config.Limits{MaxUnauthenticated: 5, MaxUnauthenticatedPerSource: 3}
	var releases []func()
	for range 3 {
		r, ok := p.acquire(tcpAddr("10.0.0.1"), lim)
		require.True(t, ok)
		releases = append(releases, r)
	}
	_, ok := p.acquire(tcpAddr("10.0.0.1"), lim)
	require.False(t, ok, "fourth from one source")
	for range 2 {
		r, ok := p.acquire(tcpAddr("10.0.0.2"), lim)
		require.True(t, ok)
		releases = append(releases, r)
	}
	_, ok = p.acquire(tcpAddr("10.0.0.3"), lim)
	require.False(t, ok, "sixth in total")
	require.Equal(t, uint64(2), p.Refused())
	require.Equal(t, 5, p.Unauthenticated())

	releases[0]()
	releases[0]() // idempotent
	r, ok := p.acquire(tcpAddr("10.0.0.1"), lim)
	require.True(t, ok, "a slot came back")
	releases[0] = r
	for _, r := range releases {
		r()
	}
	require.Zero(t, p.Unauthenticated())
	require.Empty(t, p.mu.bySource, "no entry for sources with nothing logging in")

	// IPv6: one /64 is one source.
	lim = config.Limits{MaxUnauthenticatedPerSource: 1}
	_, ok = p.acquire(tcpAddr("2001:db8::1"), lim)
	require.True(t, ok)
	_, ok = p.acquire(tcpAddr("2001:db8::2"), lim)
	require.False(t, ok, "same /64")
}

// TestPreLoginRefusal: a refused client reads error 1040 in place of the
// greeting, then EOF.
func TestPreLoginRefusal(t *testing.T) {
	p := NewPreLogin()
	cfg := config.Defaults()
	cfg.Limits.MaxUnauthenticated = 1
	current := func() *config.Config { return cfg }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c1.Close()
	s1, err := ln.Accept()
	require.NoError(t, err)
	defer s1.Close()
	release, ok := p.admit(s1, current)
	require.True(t, ok)
	defer release()

	c2, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c2.Close()
	s2, err := ln.Accept()
	require.NoError(t, err)
	_, ok = p.admit(s2, current)
	require.False(t, ok)
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(5*time.Second)))
	all, err := io.ReadAll(c2)
	require.NoError(t, err)
	require.Greater(t, len(all), 7)
	require.Equal(t, byte(mysql.ERR_HEADER), all[4])
	require.Equal(t, uint16(mysql.ER_CON_COUNT_ERROR), uint16(all[5])|uint16(all[6])<<8)
}
