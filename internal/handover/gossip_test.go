package handover

import (
	"context"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/session"
)

// stateSource is a Source with a monitor view and a cluster node.
type stateSource struct {
	t                 *testing.T
	ln                net.Listener
	detached, resumed atomic.Bool
}

func (s *stateSource) Config() ([]byte, error) { return []byte("listen: 127.0.0.1:0\n"), nil }

func (s *stateSource) Listeners() ([]Listening, []*os.File, error) {
	f, err := s.ln.(*net.TCPListener).File()
	return []Listening{{Role: "client", Addr: "127.0.0.1:0"}}, []*os.File{f}, err
}

func (s *stateSource) StopAccepting() (func() error, error) { return func() error { return nil }, nil }
func (s *stateSource) Sessions() *session.Registry          { return session.NewRegistry() }
func (s *stateSource) MonitorView() ([]byte, error)         { return []byte(`{"v":1,"min_reader":1}`), nil }

func (s *stateSource) DetachGossip() (*Gossip, error) {
	s.detached.Store(true)
	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(s.t, err)
	ul, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(s.t, err)
	tf, err := tl.File()
	require.NoError(s.t, err)
	uf, err := ul.File()
	require.NoError(s.t, err)
	_, _ = tl.Close(), ul.Close()
	return &Gossip{Info: GossipInfo{Addr: "127.0.0.1:0", Name: "n1", Peers: []string{"127.0.0.1:1"}}, TCP: tf, UDP: uf}, nil
}

func (s *stateSource) ResumeGossip(*Gossip) error { s.resumed.Store(true); return nil }

// handoverPair is a handover socket: the old side's end, and the new side's,
// driven by hand.
func handoverPair(t *testing.T) (*net.UnixConn, *conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	mk := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		nc, err := net.FileConn(f)
		require.NoError(t, err)
		_ = f.Close()
		return nc.(*net.UnixConn)
	}
	oldEnd, newEnd := mk(fds[0]), mk(fds[1])
	t.Cleanup(func() { _, _ = oldEnd.Close(), newEnd.Close() })
	return oldEnd, &conn{uc: newEnd}
}

// serveOld runs Old.Serve over a handover pair, with a stateSource, and
// sends the new side's hello with features; nw is the new side's end,
// done gets Serve's outcome.
func serveOld(t *testing.T, features []string) (o *Old, src *stateSource, nw *conn, done chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	src = &stateSource{t: t, ln: ln}
	o = &Old{Src: src, Log: zaptest.NewLogger(t), Stats: &Stats{}}
	oldEnd, nw := handoverPair(t)
	done = make(chan error, 1)
	go func() { done <- o.Serve(context.Background(), oldEnd) }()
	require.NoError(t, nw.send(&message{Type: msgHello, Version: ProtocolVersion, PID: 1, Features: features}))
	return o, src, nw, done
}

// TestGossipOnlyToANewBinaryThatTakesIt: the old process sends its
// monitor view to any new binary, but detaches its cluster node and sends
// the gossip port only to one whose hello says it takes it (an older
// binary would refuse the extra descriptors); a new process that dies
// after taking the port makes the old one resume its node.
func TestGossipOnlyToANewBinaryThatTakesIt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features []string
		fds      int
	}{
		{"older new binary", nil, 1},
		{"gossip", []string{featureGossip}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, src, nw, done := serveOld(t, tc.features)
			m, fds, err := nw.recv()
			require.NoError(t, err)
			closeFiles(fds)
			require.Equal(t, msgConfig, m.Type)
			require.JSONEq(t, `{"v":1,"min_reader":1}`, string(m.Monitor))
			m, fds, err = nw.recv()
			require.NoError(t, err)
			defer closeFiles(fds)
			require.Equal(t, msgListeners, m.Type)
			require.Len(t, fds, tc.fds)
			require.Equal(t, tc.fds == 3, m.Gossip != nil)
			require.Equal(t, tc.fds == 3, src.detached.Load())
			if m.Gossip != nil {
				require.Equal(t, "n1", m.Gossip.Name)
				require.Equal(t, []string{"127.0.0.1:1"}, m.Gossip.Peers)
			}
			_ = nw.uc.Close() // the new process dies before ready
			require.ErrorIs(t, <-done, ErrRolledBack)
			require.Equal(t, tc.fds == 3, src.resumed.Load(), "the detached node resumes")
		})
	}
}
