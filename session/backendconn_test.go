package session

import (
	"net"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

// pipeBackend is a Backend over net.Pipe: a scripted server on the other
// end answers each request with the next reply of its script and records
// the requests it got. No pool, no TCP.
type pipeBackend struct {
	pc    *packet.Conn
	rd    *protocol.BackendReader
	stats pool.ServerStats
	wg    sync.WaitGroup
	mu    sync.Mutex
	got   [][]byte
}

var _ Backend = (*pipeBackend)(nil)

func (b *pipeBackend) Addr() string                    { return "pipe:3306" }
func (b *pipeBackend) Packet() *packet.Conn            { return b.pc }
func (b *pipeBackend) Reader() *protocol.BackendReader { return b.rd }
func (b *pipeBackend) Stats() *pool.ServerStats        { return &b.stats }

func (b *pipeBackend) requests() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got
}

// newPipeBackend starts the scripted server; each reply is one packet's
// payload, sent with sequence id 1.
func newPipeBackend(t *testing.T, replies ...[]byte) *pipeBackend {
	t.Helper()
	proxySide, serverSide := net.Pipe()
	b := &pipeBackend{pc: packet.NewConn(proxySide)}
	b.rd = protocol.NewBackendReader(b.pc)
	srv := packet.NewConn(serverSide)
	b.wg.Go(func() {
		for _, reply := range replies {
			req, err := srv.ReadPacket()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.got = append(b.got, req)
			b.mu.Unlock()
			if err := srv.WritePacket(append([]byte{0, 0, 0, 0}, reply...)); err != nil {
				return
			}
		}
	})
	t.Cleanup(func() {
		_ = proxySide.Close()
		_ = serverSide.Close()
		b.wg.Wait()
	})
	return b
}

// TestRelayThroughBackendSeam: the relay steps work on any Backend: the
// request reaches the server as sent, the server's OK reaches the client,
// and the request is accounted in the Backend's counters (bytes sent,
// nothing left in flight).
func TestRelayThroughBackendSeam(t *testing.T) {
	ok := []byte{mysql.OK_HEADER, 3, 0, byte(mysql.SERVER_STATUS_AUTOCOMMIT), 0, 0, 0}
	b := newPipeBackend(t, ok)
	s, client := longDataSession(config.Defaults().Limits)
	pkt := comQuery("UPDATE t SET a = 1")

	require.NoError(t, writeRequest(b, pkt))
	res, err := s.relayReply(b, pkt, fwdResult)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("\x03UPDATE t SET a = 1")}, b.requests())
	require.Equal(t, uint64(3), res.Affected)
	require.True(t, res.HasStatus)
	require.Equal(t, uint16(mysql.SERVER_STATUS_AUTOCOMMIT), res.Status)
	out := client.out.Bytes()
	require.GreaterOrEqual(t, len(out), 5)
	require.Equal(t, byte(mysql.OK_HEADER), out[4], "the client got the server's OK")
	require.Equal(t, uint64(len("UPDATE t SET a = 1")+1), b.stats.BytesSent.Load())
	require.Zero(t, b.stats.InFlight.Load())
}

// TestWriteRequestLostBackend: a request that cannot be written is a
// backend I/O error (the one the retry and loss paths test for).
func TestWriteRequestLostBackend(t *testing.T) {
	b := newPipeBackend(t)
	b.wg.Wait() // the server has no reply to give: it is gone
	require.NoError(t, b.pc.Close())
	require.ErrorIs(t, writeRequest(b, comQuery("SELECT 1")), protocol.ErrBackendIO)
}
