// Package fakebackend runs go-mysql servers on loopback standing in for
// MySQL backends in unit tests (pool, session). It imports nothing of
// rwproxy, so that any package's tests may use it.
package fakebackend

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
)

// Options configure a fake backend. The zero value serves user "u" with
// password "pw" over mysql_native_password, without TLS, answering every
// query with OK.
type Options struct {
	// Plugin authenticates the user (default mysql_native_password).
	Plugin string
	// TLS, when set, is offered to clients.
	TLS *tls.Config
	// Handler makes the handler of each connection (nc is its socket);
	// nil answers every query with OK.
	Handler func(nc net.Conn) mysqlserver.Handler
	// OnLogin sees each connection once it is logged in.
	OnLogin func(c *mysqlserver.Conn)
}

// OK answers every query with OK (the pool's init SQL included).
type OK struct{ mysqlserver.EmptyHandler }

// HandleQuery answers OK.
func (OK) HandleQuery(string) (*mysql.Result, error) { return nil, nil }

// Start serves until the test ends and returns the server's address.
func Start(t testing.TB, o Options) string {
	t.Helper()
	if o.Plugin == "" {
		o.Plugin = mysql.AUTH_NATIVE_PASSWORD
	}
	if o.Handler == nil {
		o.Handler = func(net.Conn) mysqlserver.Handler { return OK{} }
	}
	srv := mysqlserver.NewServer("8.4.0-fake", mysql.DEFAULT_COLLATION_ID, o.Plugin, nil, o.TLS)
	creds := mysqlserver.NewInMemoryAuthenticationHandler(o.Plugin)
	require.NoError(t, creds.AddUser("u", "pw"))
	return Listen(t, func(nc net.Conn) {
		c, err := srv.NewCustomizedConn(nc, creds, o.Handler(nc))
		if err != nil {
			return
		}
		if o.OnLogin != nil {
			o.OnLogin(c)
		}
		for c.HandleCommand() == nil {
		}
	})
}

// Listen serves each connection on loopback with serve, on its own
// goroutine, until the test ends; then it closes every connection and
// waits for the goroutines.
func Listen(t testing.TB, serve func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { serve(nc) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
