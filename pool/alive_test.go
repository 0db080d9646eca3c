package pool

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for i := 0; i < 2; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	srv := <-accepted
	require.True(t, alive(c), "open and silent")
	_, err = srv.Write([]byte{1})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return !alive(c) }, 2e9, 1e7, "unexpected bytes")

	c2, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c2.Close()
	srv2 := <-accepted
	require.True(t, alive(c2))
	require.NoError(t, srv2.Close())
	require.Eventually(t, func() bool { return !alive(c2) }, 2e9, 1e7, "closed by the server")
}
