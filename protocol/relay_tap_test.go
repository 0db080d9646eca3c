package protocol_test

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// Tap sees every payload written to the client, in order and as written
// (an OK re-encoded for a client without session tracking as re-encoded).
func TestRelayTapSeesWhatTheClientGets(t *testing.T) {
	w := newWire()
	w.packet([]byte{1})
	w.packet(columnDef("a"))
	w.packet(eofPayload(0, 2))
	w.packet([]byte{1, 'x'})
	w.packet([]byte{1, 'y'})
	w.packet(eofPayload(0, 2))
	var out bytes.Buffer
	bpc := packet.NewConn(newMemConn(w.b, nil))
	client := protocol.NewClientConn(newMemConn(nil, &out))
	bpc.Sequence, client.Sequence = 1, 1
	var r protocol.Relay
	var tapped [][]byte
	r.Tap = func(p []byte) { tapped = append(tapped, bytes.Clone(p)) }
	res, err := r.Forward(client, protocol.NewBackendReader(bpc))
	require.NoError(t, err)
	require.Equal(t, 2, res.Rows)
	require.Len(t, tapped, 6)
	var rebuilt []byte
	for i, p := range tapped {
		rebuilt = append(rebuilt, byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), byte(i+1))
		rebuilt = append(rebuilt, p...)
	}
	require.Equal(t, out.Bytes(), rebuilt)
}
