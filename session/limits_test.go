package session

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

func limitsConfig(l config.Limits) func() *config.Config {
	c := config.Defaults()
	c.Limits = l
	return func() *config.Config { return c }
}

func TestCheckLimits(t *testing.T) {
	s := &Session{d: &Deps{Config: limitsConfig(config.Limits{MaxAllowedPacket: 1 << 20, MaxQueryLength: 10,
		MaxPreparedStatements: 2})}, stmts: make(map[uint32]*prepared)}
	req := func(cmd byte, body string) []byte { return append([]byte{0, 0, 0, 0, cmd}, body...) }

	require.Nil(t, s.checkLimits(req(mysql.COM_QUERY, "SELECT 1")))
	require.Nil(t, s.checkLimits(req(mysql.COM_QUERY, "0123456789")), "exactly the limit")
	e := s.checkLimits(req(mysql.COM_QUERY, "SELECT 1234"))
	require.NotNil(t, e)
	require.Equal(t, ErrCodeQueryTooLong, e.Code)
	require.Equal(t, "rwproxy: statement of 11 bytes is longer than max_query_length (10)", e.Message)
	require.NotNil(t, s.checkLimits(req(mysql.COM_STMT_PREPARE, "SELECT 1234")))
	require.Nil(t, s.checkLimits(req(mysql.COM_STMT_EXECUTE, "SELECT 1234 and more")), "only statement texts count")

	require.Nil(t, s.checkLimits(req(mysql.COM_STMT_PREPARE, "SELECT ?")))
	s.stmts[1], s.stmts[2] = &prepared{}, &prepared{}
	e = s.checkLimits(req(mysql.COM_STMT_PREPARE, "SELECT ?"))
	require.NotNil(t, e)
	require.Equal(t, uint16(mysql.ER_MAX_PREPARED_STMT_COUNT_REACHED), e.Code)
	require.Equal(t, "42000", e.State)
	require.Equal(t, "Can't create more than max_prepared_stmt_count statements (current value: 2)", e.Message)
	require.Nil(t, s.checkLimits(req(mysql.COM_QUERY, "SELECT 1")), "queries still run")
	delete(s.stmts, 1)
	require.Nil(t, s.checkLimits(req(mysql.COM_STMT_PREPARE, "SELECT ?")))

	// max_query_length 0 is max_allowed_packet.
	s.d.Config = limitsConfig(config.Limits{MaxAllowedPacket: 12, MaxPreparedStatements: 5})
	require.Nil(t, s.checkLimits(req(mysql.COM_QUERY, "SELECT 1234")))
	require.NotNil(t, s.checkLimits(req(mysql.COM_QUERY, "SELECT 123456")))
	require.Equal(t, 12, maxPacket(s.d))
	s.d.Config = limitsConfig(config.Limits{})
	s.d.MaxPacket = 99
	require.Equal(t, 99, maxPacket(s.d))
}

func TestLoginLimiterBucket(t *testing.T) {
	l := NewLoginLimiter()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	a := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}
	b := &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 1}
	for i := range 5 {
		require.True(t, l.Allow(a, 2, 5), "burst %d", i)
	}
	require.False(t, l.Allow(a, 2, 5), "burst spent")
	require.True(t, l.Allow(b, 2, 5), "another source has its own bucket")
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	require.True(t, l.Allow(a, 2, 5))
	require.False(t, l.Allow(a, 2, 5))
	require.Equal(t, uint64(2), l.Refused())
	now = now.Add(time.Hour) // refills to the burst, no more
	for range 5 {
		require.True(t, l.Allow(a, 2, 5))
	}
	require.False(t, l.Allow(a, 2, 5))
	require.True(t, l.Allow(a, 0, 0), "rate 0: no limit")
	var nilLimiter *LoginLimiter
	require.True(t, nilLimiter.Allow(a, 1, 1))
	require.Zero(t, nilLimiter.Refused())
}

func TestLoginLimiterSources(t *testing.T) {
	v6a := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1")}
	v6b := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::2")}
	v6c := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1")}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1")}
	v4 := &net.TCPAddr{IP: net.ParseIP("10.0.0.1").To4()}
	ka, _ := sourceKey(v6a)
	kb, _ := sourceKey(v6b)
	kc, _ := sourceKey(v6c)
	require.Equal(t, ka, kb, "one /64")
	require.NotEqual(t, ka, kc)
	km, _ := sourceKey(mapped)
	k4, _ := sourceKey(v4)
	require.Equal(t, k4, km)
	_, ok := sourceKey(&net.UnixAddr{Name: "/tmp/x"})
	require.False(t, ok)

	// The table is bounded: full buckets are forgotten, and past the
	// bound new sources share one overflow bucket: they are still limited
	// (issue #17: past 65,536 sources they passed unlimited).
	l := NewLoginLimiter()
	l.max = 3
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 3 {
		require.True(t, l.Allow(&net.TCPAddr{IP: net.IPv4(10, 0, 1, byte(i))}, 1, 2))
	}
	require.True(t, l.Allow(&net.TCPAddr{IP: net.IPv4(10, 0, 2, 1)}, 1, 2), "over the bound: the overflow bucket")
	require.True(t, l.Allow(&net.TCPAddr{IP: net.IPv4(10, 0, 2, 2)}, 1, 2), "another source, same bucket")
	require.False(t, l.Allow(&net.TCPAddr{IP: net.IPv4(10, 0, 2, 3)}, 1, 2), "the overflow bucket is empty")
	require.Equal(t, 3, l.Sources())
	now = now.Add(10 * time.Second)
	require.True(t, l.Allow(&net.TCPAddr{IP: net.IPv4(10, 0, 2, 1)}, 1, 2))
	require.Equal(t, 1, l.Sources(), "refilled buckets were swept")
}

func TestLoginLimiterAdmit(t *testing.T) {
	l := NewLoginLimiter()
	cfg := limitsConfig(config.Limits{LoginRate: 0.001, LoginBurst: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	admitted := make(chan bool, 2)
	go func() {
		for range 2 {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			ok := l.Admit(nc, cfg)
			if ok {
				_ = nc.Close()
			}
			admitted <- ok
		}
	}()
	for i, want := range []bool{true, false} {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		all, err := io.ReadAll(c)
		require.NoError(t, err)
		_ = c.Close()
		require.Equal(t, want, <-admitted, "connection %d", i)
		if want {
			require.Empty(t, all)
			continue
		}
		require.Equal(t, byte(0), all[3], "sequence 0: in place of the greeting")
		e := protocol.ParseErr(all[4:])
		require.Equal(t, uint16(mysql.ER_HOST_IS_BLOCKED), e.Code)
		require.Equal(t, "Host '127.0.0.1' is blocked: too many connection attempts (rwproxy limits.login_rate); retry later", e.Message)
	}
	require.Equal(t, uint64(1), l.Refused())
}
