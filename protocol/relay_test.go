package protocol_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

func TestRelayForwardErrors(t *testing.T) {
	w := func(payloads ...[]byte) []byte {
		x := newWire()
		for _, p := range payloads {
			x.packet(p)
		}
		return x.b
	}
	ok := okTracked(0, 0, 2, 0, nil, nil)
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty payload", w([]byte{}), protocol.ErrProtocol},
		{"LOCAL INFILE request", w([]byte{mysql.LocalInFile_HEADER, 'f'}), protocol.ErrProtocol},
		{"short OK", w([]byte{0, 0, 0}), protocol.ErrProtocol},
		{"no EOF after the column definitions", w([]byte{1}, columnDef("a"), columnDef("b")), protocol.ErrProtocol},
		{"stream ends in the rows", w([]byte{1}, columnDef("a"), eofPayload(0, 2), []byte{1, 'x'}), protocol.ErrBackendIO},
		{"stream ends before a promised result", w(okTracked(0, 0, mysql.SERVER_MORE_RESULTS_EXISTS, 0, nil, nil)), protocol.ErrBackendIO},
		{"no response at all", nil, protocol.ErrBackendIO},
		{"wrong sequence number", append([]byte{byte(len(ok)), 0, 0, 5}, ok...), protocol.ErrBackendIO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := relayOnce(tc.in, true, nil)
			require.ErrorIs(t, err, tc.err)
		})
	}
}

func TestRelayForwardRowError(t *testing.T) {
	w := newWire()
	w.packet([]byte{1})
	w.packet(columnDef("a"))
	w.packet(eofPayload(0, 2))
	w.packet([]byte{1, 'x'})
	w.packet(errPayload(1317, "70100", "Query execution was interrupted"))
	res, out, err := relayOnce(w.b, true, nil)
	require.NoError(t, err, "a server error is relayed, not a relay failure")
	require.Equal(t, w.b, out)
	require.Equal(t, 1, res.Rows)
	require.NotNil(t, res.Err)
	require.Equal(t, uint16(1317), res.Err.Code)
	require.Equal(t, "70100", res.Err.State)
}

// failConn refuses writes: the client is gone.
type failConn struct{ memConn }

func (failConn) Write([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestRelayForwardClientGone(t *testing.T) {
	w := newWire()
	w.resultset(1, [][][]byte{{[]byte("x")}}, 2)
	backend := packet.NewConn(newMemConn(w.b, nil))
	client := protocol.NewClientConn(&failConn{})
	backend.Sequence, client.Sequence = 1, 1
	var r protocol.Relay
	r.Done()
	_, err := r.Forward(client, backend)
	require.ErrorIs(t, err, protocol.ErrClientIO)
	require.NotErrorIs(t, err, protocol.ErrBackendIO)
}

// A row of 16 MiB or more travels as several packets; the relay must
// split it the same way (and number the pieces the same way).
func TestRelayForwardMultiPacketRow(t *testing.T) {
	val := bytes.Repeat([]byte{'m'}, mysql.MaxPayloadLen+100)
	row := append(mysql.AppendLengthEncodedInteger(nil, uint64(len(val))), val...)
	w := newWire()
	w.packet([]byte{1})
	w.packet(columnDef("blob"))
	w.packet(eofPayload(0, 2))
	for rest := row; ; {
		n := min(len(rest), mysql.MaxPayloadLen)
		w.packet(rest[:n])
		rest = rest[n:]
		if n < mysql.MaxPayloadLen {
			break
		}
	}
	w.packet(eofPayload(0, 2))
	res, out, err := relayOnce(w.b, true, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Rows)
	require.Equal(t, w.payload, res.Bytes)
	require.True(t, bytes.Equal(w.b, out), "multi-packet row altered")
}
