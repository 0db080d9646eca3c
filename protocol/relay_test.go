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

// TestRelayOnErrReplaces: OnErr may replace the ERR packet that ends a
// response (alone or after rows) and leaves every other packet alone.
func TestRelayOnErrReplaces(t *testing.T) {
	timeout := protocol.NewErrQueryTimeout()
	onErr := func(me *mysql.MyError) *mysql.MyError {
		if me.Code == mysql.ER_QUERY_INTERRUPTED {
			return timeout
		}
		return nil
	}
	tests := []struct {
		name string
		head func(w *wire)
		code uint16
		rows int
	}{
		{name: "after rows", head: func(w *wire) {
			w.packet([]byte{1})
			w.packet(columnDef("a"))
			w.packet(eofPayload(0, 2))
			w.packet([]byte{1, 'x'})
		}, code: 1317, rows: 1},
		{name: "alone", head: func(*wire) {}, code: 1317},
		{name: "other errors pass", head: func(*wire) {}, code: 1146},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, want := newWire(), newWire()
			tc.head(in)
			tc.head(want)
			in.packet(errPayload(tc.code, "70100", "from the server"))
			if tc.code == 1317 {
				want.packet(protocol.AppendErr(nil, timeout))
			} else {
				want.packet(errPayload(tc.code, "70100", "from the server"))
			}
			var out bytes.Buffer
			bpc := packet.NewConn(newMemConn(in.b, nil))
			backend := protocol.NewBackendReader(bpc)
			client := protocol.NewClientConn(newMemConn(nil, &out))
			bpc.Sequence, client.Sequence = 1, 1
			var r protocol.Relay
			r.Done()
			r.OnErr = onErr
			res, err := r.Forward(client, backend)
			require.NoError(t, err)
			require.Equal(t, want.b, out.Bytes())
			require.Equal(t, tc.rows, res.Rows)
			if tc.code == 1317 {
				require.Equal(t, timeout, res.Err, "Response.Err is what the client got")
			} else {
				require.Equal(t, tc.code, res.Err.Code)
			}
		})
	}
}

// failConn refuses writes: the client is gone.
type failConn struct{ memConn }

func (failConn) Write([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestRelayForwardClientGone(t *testing.T) {
	w := newWire()
	w.resultset(1, [][][]byte{{[]byte("x")}}, 2)
	bpc := packet.NewConn(newMemConn(w.b, nil))
	backend := protocol.NewBackendReader(bpc)
	client := protocol.NewClientConn(&failConn{})
	bpc.Sequence, client.Sequence = 1, 1
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
