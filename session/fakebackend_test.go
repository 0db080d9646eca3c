package session

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/pool"
)

// fakeBackend is a go-mysql server on loopback standing in for a MySQL
// backend: user "u", password "pw"; every query answers OK except
// ROLLBACK, which closes the connection (an I/O error for the client).
type fakeBackend struct{ addr string }

// fakeConnHandler serves one backend connection.
type fakeConnHandler struct {
	mysqlserver.EmptyHandler
	nc net.Conn
}

func (h *fakeConnHandler) HandleQuery(q string) (*mysql.Result, error) {
	if strings.EqualFold(strings.TrimSpace(q), "ROLLBACK") {
		_ = h.nc.Close()
		return nil, net.ErrClosed
	}
	return nil, nil
}

func startFakeBackend(t *testing.T) *fakeBackend {
	t.Helper()
	return &fakeBackend{addr: fakebackend.Start(t, fakebackend.Options{
		Handler: func(nc net.Conn) mysqlserver.Handler { return &fakeConnHandler{nc: nc} }})}
}

// newPools is a pool manager whose server at addr takes maxConns
// connections.
func newPools(t *testing.T, addr string, maxConns int, wait time.Duration) *pool.Manager {
	t.Helper()
	m := pool.NewManager(pool.Options{ConnectTimeout: 3 * time.Second, WaitTimeout: wait}, zaptest.NewLogger(t))
	t.Cleanup(func() { _ = m.Close() })
	m.SetServer(addr, maxConns)
	return m
}

func getConn(t *testing.T, m *pool.Manager, addr string) *pool.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := m.Get(ctx, pool.Key{Addr: addr, User: "u"}, "pw")
	require.NoError(t, err)
	return c
}
