package session

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/packet"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

// Backend is a backend connection as the session's relay uses it: the
// packet channel a request is written to, the reader its reply is relayed
// from (straight into the relay's buffer), the server's counters the
// request is accounted in, and the server's address. *pool.Conn
// implements it; the session's tests also use a fake over net.Pipe
// (backendconn_test.go).
//
// The relay steps take a Backend: writeRequest, relayReply, sendPrepare,
// closeBackendStmt, traceBackend. What else the session does with a
// connection keeps *pool.Conn (docs/architecture.md, "Seams of the query
// path"): bringing it to the session's state reads and writes the
// connection's applied state (DB, Vars, MultiStatements, LastInsertID, the
// prepared-statement cache) and runs go-mysql's client on it between
// replies; pinning, holding and releasing it is the pool's release-once
// accounting; KILL opens a sibling connection of its pool key; an upgrade
// hands its socket over (pool.Conn.Hand).
type Backend interface {
	Addr() string
	Packet() *packet.Conn
	Reader() *protocol.BackendReader
	Stats() *pool.ServerStats
}

var _ Backend = (*pool.Conn)(nil)

// writeRequest writes one command packet (with its 4-byte header
// placeholder) to b; a failure is a backend I/O error.
func writeRequest(b Backend, pkt []byte) error {
	bp := b.Packet()
	bp.ResetSequence()
	if err := bp.WritePacket(pkt); err != nil {
		return fmt.Errorf("%w: %v", protocol.ErrBackendIO, err)
	}
	return nil
}

// relayReply relays the reply to the request pkt, just written to b, with
// fwd, and accounts for the request in b's server counters.
func (s *Session) relayReply(b Backend, pkt []byte, fwd relayFunc) (protocol.Response, error) {
	st := b.Stats()
	st.BytesSent.Add(uint64(len(pkt) - 4))
	st.InFlight.Add(1)
	s.infile.Backend = b.Packet()
	res, err := fwd(&s.relay, s.cl, b.Reader())
	s.infile.Backend = nil
	st.InFlight.Add(-1)
	return res, err
}
