package pool

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/certs"
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

// TestAliveTLS: the check sees through TLS (before, a *tls.Conn was always
// "alive"): a server that closed is noticed, and a TLS record waiting to be
// read (a session ticket, data) is neither consumed nor taken for a close.
func TestAliveTLS(t *testing.T) {
	ca := certs.NewCA(t, "alive CA")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.TLSCert(t, "127.0.0.1")}})
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			accepted <- c
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	require.NoError(t, err)
	defer c.Close()
	srv := <-accepted
	_, err = srv.Write([]byte("hello"))
	require.NoError(t, err)
	require.True(t, alive(c), "a record waiting is not a close")
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err, "the TLS stream is intact after the check")
	require.Equal(t, "hello", string(buf))
	require.True(t, alive(c))
	require.NoError(t, srv.Close())
	require.Eventually(t, func() bool { return !alive(c) }, 2e9, 1e7, "closed by the server")
}
