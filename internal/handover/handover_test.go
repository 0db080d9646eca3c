package handover

import (
	"net"
	"os"
	"regexp"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestDocsListUpgradeMetrics keeps docs/observability.md in step with the
// upgrade collector.
func TestDocsListUpgradeMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../docs/observability.md")
	require.NoError(t, err)
	ch := make(chan *prometheus.Desc, 10)
	(&Stats{}).Collector().Describe(ch)
	close(ch)
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	n := 0
	for d := range ch {
		m := re.FindStringSubmatch(d.String())
		require.NotNil(t, m)
		require.Contains(t, string(raw), "| `"+m[1]+"` |")
		n++
	}
	require.Equal(t, 5, n)
}

// TestWirePassesSockets: a message and the descriptors sent with it
// arrive together, and the next message's do not arrive early; a TCP
// connection passed this way is the same connection.
func TestWirePassesSockets(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	mk := func(fd int) *conn {
		f := os.NewFile(uintptr(fd), "pair")
		nc, err := net.FileConn(f)
		require.NoError(t, err)
		_ = f.Close()
		t.Cleanup(func() { _ = nc.Close() })
		return &conn{uc: nc.(*net.UnixConn)}
	}
	a, b := mk(fds[0]), mk(fds[1])

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	server, err := ln.Accept()
	require.NoError(t, err)

	require.NoError(t, connFD(server, func(fd int) error {
		return a.send(&message{Type: msgSession, ID: 7, Session: []byte(`{"v":1}`)}, fd)
	}))
	require.NoError(t, a.send(&message{Type: msgDone}))
	_ = server.Close() // the passed descriptor keeps the connection open

	m, files, err := b.recv()
	require.NoError(t, err)
	require.Equal(t, msgSession, m.Type)
	require.Equal(t, uint32(7), m.ID)
	require.Len(t, files, 1)
	got, err := net.FileConn(files[0])
	require.NoError(t, err)
	_ = files[0].Close()
	defer got.Close()
	_, err = client.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = got.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))

	m, files, err = b.recv()
	require.NoError(t, err)
	require.Equal(t, msgDone, m.Type)
	require.Empty(t, files)
}
