package protocol_test

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// pkt frames payload as one packet with sequence seq.
func pkt(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func TestClientConnReadPacket(t *testing.T) {
	big := bytes.Repeat([]byte("x"), mysql.MaxPayloadLen)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{name: "one small request", in: pkt(0, []byte("\x03SELECT 1")), want: []byte("\x03SELECT 1")},
		{name: "larger than the read buffer", in: pkt(0, bytes.Repeat([]byte("q"), 5000)),
			want: bytes.Repeat([]byte("q"), 5000)},
		{name: "a 16 MiB request comes in two packets, joined",
			in:   append(pkt(0, big), pkt(1, []byte("tail"))...),
			want: append(append([]byte{}, big...), "tail"...)},
		{name: "refused once past max, before the rest is read", in: pkt(0, bytes.Repeat([]byte("q"), 100)),
			max: 99, wantErr: protocol.ErrTooLarge},
		{name: "exactly max is accepted", in: pkt(0, bytes.Repeat([]byte("q"), 99)), max: 99,
			want: bytes.Repeat([]byte("q"), 99)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := protocol.NewClientConn(newMemConn(tc.in, nil))
			got, err := c.ReadPacket([]byte("HDR!"), tc.max)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "HDR!", string(got[:4]), "the caller's prefix is kept")
			require.Equal(t, tc.want, got[4:])
		})
	}
}

func TestClientConnReadPacketErrors(t *testing.T) {
	t.Run("out of sequence", func(t *testing.T) {
		c := protocol.NewClientConn(newMemConn(pkt(3, []byte("\x0e")), nil))
		_, err := c.ReadPacket(nil, 0)
		require.ErrorContains(t, err, "out of sequence")
	})
	t.Run("the peer goes away mid-packet", func(t *testing.T) {
		in := pkt(0, []byte("\x03SELECT 1"))
		c := protocol.NewClientConn(newMemConn(in[:8], nil))
		got, err := c.ReadPacket(nil, 0)
		require.Error(t, err)
		require.Empty(t, got, "no partial request is returned")
	})
	t.Run("sequence follows the packets read", func(t *testing.T) {
		c := protocol.NewClientConn(newMemConn(append(pkt(0, []byte("a")), pkt(1, []byte("b"))...), nil))
		_, err := c.ReadPacket(nil, 0)
		require.NoError(t, err)
		got, err := c.ReadPacket(nil, 0)
		require.NoError(t, err)
		require.Equal(t, "b", string(got))
		require.Equal(t, uint8(2), c.Sequence)
	})
}

func TestClientConnWritePacket(t *testing.T) {
	var out bytes.Buffer
	c := protocol.NewClientConn(newMemConn(nil, &out))
	c.Sequence = 1
	require.NoError(t, c.WritePacket(append([]byte{0, 0, 0, 0}, "hello"...)))
	require.Equal(t, pkt(1, []byte("hello")), out.Bytes())

	out.Reset()
	big := bytes.Repeat([]byte("y"), mysql.MaxPayloadLen+3)
	require.NoError(t, c.WritePacket(append([]byte{0, 0, 0, 0}, big...)))
	want := append(pkt(2, big[:mysql.MaxPayloadLen]), pkt(3, []byte("yyy"))...)
	require.Equal(t, want, out.Bytes(), "a 16 MiB payload is split, sequence numbers follow")
	require.Equal(t, uint8(4), c.Sequence)
}
