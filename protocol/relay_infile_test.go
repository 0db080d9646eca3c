package protocol_test

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// infileRun relays one COM_QUERY response whose backend stream is
// backendIn, with the client sending clientIn; it returns the response,
// what the client received and what the backend received.
func infileRun(t *testing.T, backendIn, clientIn []byte, allowed bool) (protocol.Response, []byte, []byte, error) {
	t.Helper()
	var toClient, toBackend bytes.Buffer
	bpc := packet.NewConn(newMemConn(backendIn, &toBackend))
	client := protocol.NewClientConn(newMemConn(clientIn, &toClient))
	bpc.Sequence, client.Sequence = 1, 1
	var r protocol.Relay
	r.ClientTrack = true
	r.Infile = &protocol.InfileRelay{Backend: bpc, Allowed: allowed, MaxPacket: 1 << 20}
	res, err := r.Forward(client, protocol.NewBackendReader(bpc))
	return res, toClient.Bytes(), toBackend.Bytes(), err
}

// TestRelayInfile: the server's file request reaches the client, the
// client's file packets (through the empty one) reach the server with
// their sequence numbers, and the server's OK ends the response.
func TestRelayInfile(t *testing.T) {
	request := []byte{mysql.LocalInFile_HEADER, '/', 'x'}
	ok := okTracked(2, 0, 2, 0, nil, nil)
	backend := newWire()
	backend.packet(request) // seq 1
	backend.seq = 4         // the client sends 2..3
	backend.packet(ok)
	file := newWire()
	file.seq = 2
	file.packet([]byte("1,a\n"))
	file.packet(nil)

	res, toClient, toBackend, err := infileRun(t, backend.b, file.b, true)
	require.NoError(t, err)
	require.Nil(t, res.Err)
	require.Equal(t, file.b, toBackend, "the file's packets, as the client sent them")
	want := newWire()
	want.packet(request)
	want.seq = 4
	want.packet(ok)
	require.Equal(t, want.b, toClient)
	require.True(t, res.HasStatus)
}

// TestRelayInfileRefused: for a client that did not enable local files
// the server gets an empty file, its OK is consumed, and the client gets
// error 4166 in its place.
func TestRelayInfileRefused(t *testing.T) {
	backend := newWire()
	backend.packet([]byte{mysql.LocalInFile_HEADER, '/', 'x'})
	backend.seq = 3
	backend.packet(okTracked(0, 0, 2, 0, nil, nil))
	res, toClient, toBackend, err := infileRun(t, backend.b, nil, false)
	require.NoError(t, err)
	require.NotNil(t, res.Err)
	require.Equal(t, protocol.ErrCodeLoadInfileDisabled, res.Err.Code)
	require.Equal(t, []byte{0, 0, 0, 2}, toBackend, "an empty file")
	want := newWire()
	want.packet(errPayload(4166, "42000", protocol.NewErrLoadInfileDisabled().Message))
	require.Equal(t, want.b, toClient)
}

// TestRelayInfileClientGone: a client that stops mid-file is a client
// error (the session ends and, as on every relay error, discards the
// backend connection the server left waiting for the rest of the file).
func TestRelayInfileClientGone(t *testing.T) {
	backend := newWire()
	backend.packet([]byte{mysql.LocalInFile_HEADER, '/', 'x'})
	file := newWire()
	file.seq = 2
	file.packet([]byte("1,a\n"))
	_, _, toBackend, err := infileRun(t, backend.b, file.b, true)
	require.ErrorIs(t, err, protocol.ErrClientIO)
	require.Equal(t, file.b, toBackend, "what arrived was passed on")
}
