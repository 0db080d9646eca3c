package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOnAllIsBindableOnEveryAddress(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	port, err := OnAll(ips...)
	require.NoError(t, err)
	require.GreaterOrEqual(t, port, 12000)
	require.Less(t, port, 20000)
	for _, ip := range ips {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		require.NoError(t, err)
		require.NoError(t, l.Close())
	}
}

func TestBindsOnRefusesAPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	require.False(t, bindsOn(port, []string{"127.0.0.1", "127.0.0.2"}))
}
