package protocol

import (
	"context"
	"net"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
)

// TestReserveConnIDs: after ReserveConnIDs(n), the next client logging in
// through go-mysql's server gets an id above n (the linkname reaches its
// real counter); the counter never goes back.
func TestReserveConnIDs(t *testing.T) {
	up := LastConnID() + 5000
	ReserveConnIDs(up)
	require.Equal(t, up, LastConnID())
	ReserveConnIDs(up - 10)
	require.Equal(t, up, LastConnID())

	sc, cc := net.Pipe()
	defer sc.Close()
	srv := server.NewServer("8.0.36", mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	auth := server.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD)
	require.NoError(t, auth.AddUser("u", "p"))
	go func() {
		if c, err := srv.NewCustomizedConn(sc, auth, server.EmptyHandler{}); err == nil {
			_ = c.HandleCommand()
		}
	}()
	c, err := client.ConnectWithDialer(context.Background(), "tcp", "pipe", "u", "p", "",
		func(context.Context, string, string) (net.Conn, error) { return cc, nil })
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, up+1, c.GetConnectionID())
}
