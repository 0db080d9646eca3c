package tunnel

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echo serves one echo server on a free loopback port.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestTunnelRelaysAndDelays(t *testing.T) {
	tu, err := Start(echo(t))
	require.NoError(t, err)
	defer tu.Close()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tu.Port())))
	require.NoError(t, err)
	defer c.Close()
	roundTrip := func(msg string) time.Duration {
		t0 := time.Now()
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		buf := make([]byte, len(msg))
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, msg, string(buf))
		return time.Since(t0)
	}
	roundTrip("warm")
	tu.SetDelay(150 * time.Millisecond)
	require.GreaterOrEqual(t, roundTrip("slow"), 150*time.Millisecond, "the server's reply waits the delay")
	tu.SetDelay(0)
	roundTrip("fast again")
}

func TestTunnelCloseEndsConnections(t *testing.T) {
	tu, err := Start(echo(t))
	require.NoError(t, err)
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tu.Port())))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1))
	require.NoError(t, err)
	tu.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "Close closes the relayed connections")
}
