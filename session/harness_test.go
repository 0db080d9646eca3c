package session

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

// The query-path suite: real sessions (Serve, login included) in front of
// in-process fake servers (fakemysql: a writer in hostgroup 10, two
// replicas in its reader hostgroup 20) through the real pool, with a fake
// Picker. No MariaDB: every case runs in milliseconds.

// Hostgroups of the suite.
const (
	hgWriter = 10
	hgReader = 20
)

// testKey is the RSA key of the suite's frontend servers (generating one
// per test would dominate the suite's time).
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// qp is one test's proxy: the fake servers, the picker, the session
// dependencies and the address clients connect to.
type qp struct {
	writer, r1, r2 *fakemysql.Server
	picker         *fakePicker
	d              *Deps
	cfg            *config.Config
	rt             *Routing
	addr           string
}

// newQP starts a writer and two replicas, and a listener serving
// sessions of user "u" (password "pw", writer hostgroup 10; reader
// hostgroup 20) and "v" (no password). The picker takes the replicas in
// turn; rt may be changed before the first connection.
func newQP(t testing.TB) *qp {
	t.Helper()
	h := &qp{writer: fakemysql.Start(t), r1: fakemysql.Start(t), r2: fakemysql.Start(t)}
	for _, s := range []*fakemysql.Server{h.writer, h.r1, h.r2} {
		require.NoError(t, s.AddUser("v", ""))
	}
	h.picker = &fakePicker{hgs: map[int][]string{hgWriter: {h.writer.Addr}, hgReader: {h.r1.Addr, h.r2.Addr}}}
	h.cfg = config.Defaults()
	h.cfg.Users = []config.User{
		{Username: fakemysql.User, Password: fakemysql.Password, DefaultHostgroup: hgWriter},
		{Username: "v", DefaultHostgroup: hgWriter},
	}
	h.rt = &Routing{ReaderOf: map[int]int{hgWriter: hgReader}}
	pools := pool.NewManager(pool.Options{ConnectTimeout: 5 * time.Second, WaitTimeout: 100 * time.Millisecond},
		zaptest.NewLogger(t))
	t.Cleanup(func() { _ = pools.Close() })
	for _, s := range []*fakemysql.Server{h.writer, h.r1, h.r2} {
		pools.SetServer(s.Addr, 10)
	}
	auth := protocol.NewAuth(func(user string) (string, string, bool) {
		u, ok := findUser(h.cfg, user)
		return u.Password, "", ok
	})
	srv, err := protocol.NewSecureServerKey("8.4.0-rwproxy-test", nil, auth, testKey())
	require.NoError(t, err)
	h.d = &Deps{Pools: pools, Server: srv, Auth: auth, Config: func() *config.Config { return h.cfg },
		Picker: h.picker, Log: zaptest.NewLogger(t), Stats: &Stats{}, MaxPacket: 1 << 20,
		HandshakeTimeout: time.Minute, Routing: func() *Routing { return h.rt }, Registry: NewRegistry()}
	h.addr = serveSessions(t, h.d)
	return h
}

// serveSessions runs Serve for every connection to a loopback listener
// until the test ends.
func serveSessions(t testing.TB, d *Deps) string {
	t.Helper()
	ctx := t.Context() // canceled before the listener's cleanup closes the connections
	return fakebackend.Listen(t, func(nc net.Conn) { Serve(ctx, nc, d) })
}

// connect logs in as user "u".
func (h *qp) connect(t testing.TB) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, h.addr, fakemysql.User, fakemysql.Password, "", 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// port runs SELECT @@port: the port of the server that ran it.
func port(t *testing.T, c *client.Conn) int { return int(intOf(t, c, "SELECT @@port")) }

// backendConn runs SELECT CONNECTION_ID(): the server connection that ran
// it (unique across the fake servers of a test binary).
func backendConn(t *testing.T, c *client.Conn) int64 { return intOf(t, c, "SELECT CONNECTION_ID()") }

// intOf runs q and returns the integer of its one row and column.
func intOf(t *testing.T, c *client.Conn, q string) int64 {
	t.Helper()
	r, err := c.Execute(q)
	require.NoError(t, err, q)
	v, err := r.GetInt(0, 0)
	require.NoError(t, err, q)
	return v
}

// exec runs q and fails the test on an error.
func exec(t *testing.T, c *client.Conn, q string) *mysql.Result {
	t.Helper()
	r, err := c.Execute(q)
	require.NoError(t, err, q)
	return r
}

// serverErr runs q and returns the server error it must fail with.
func serverErr(t *testing.T, c *client.Conn, q string) *mysql.MyError {
	t.Helper()
	_, err := c.Execute(q)
	var me *mysql.MyError
	require.True(t, errors.As(err, &me), "%s: want a server error, got %v", q, err)
	return me
}

// readers is the number of statements starting with prefix the two
// replicas received.
func (h *qp) readers(prefix string) int {
	return h.r1.Count(mysql.COM_QUERY, prefix) + h.r2.Count(mysql.COM_QUERY, prefix)
}
