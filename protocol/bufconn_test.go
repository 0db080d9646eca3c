package protocol_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// recConn records what reaches the socket, in order.
type recConn struct {
	memConn
	events   []string
	written  bytes.Buffer
	writeErr error
}

func newRecConn(in string) *recConn {
	return &recConn{memConn: memConn{r: bytes.NewReader([]byte(in))}}
}

func (c *recConn) Write(p []byte) (int, error) {
	if c.writeErr != nil {
		c.events = append(c.events, "write-failed")
		return 0, c.writeErr
	}
	c.events = append(c.events, fmt.Sprintf("write %q", p))
	return c.written.Write(p)
}

func (c *recConn) Read(p []byte) (int, error) {
	c.events = append(c.events, "read")
	return c.memConn.Read(p)
}

func (c *recConn) Close() error {
	c.events = append(c.events, "close")
	return nil
}

func (c *recConn) SetWriteDeadline(time.Time) error {
	c.events = append(c.events, "deadline")
	return nil
}

func TestBufConn(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		run    func(t *testing.T, b *protocol.BufConn)
		events []string
	}{
		{
			name: "writes wait for Flush, then leave in one syscall",
			run: func(t *testing.T, b *protocol.BufConn) {
				for _, s := range []string{"a", "bb", "ccc"} {
					n, err := b.Write([]byte(s))
					require.NoError(t, err)
					require.Equal(t, len(s), n)
				}
				require.Equal(t, 6, b.Buffered())
				require.NoError(t, b.Flush())
				require.Zero(t, b.Buffered())
			},
			events: []string{`write "abbccc"`},
		},
		{
			name: "unflushed writes are not sent",
			run: func(t *testing.T, b *protocol.BufConn) {
				_, err := b.Write([]byte("pending"))
				require.NoError(t, err)
			},
			events: nil,
		},
		{
			name: "Read flushes before reading",
			in:   "request",
			run: func(t *testing.T, b *protocol.BufConn) {
				_, err := b.Write([]byte("response"))
				require.NoError(t, err)
				p := make([]byte, 16)
				n, err := b.Read(p)
				require.NoError(t, err)
				require.Equal(t, "request", string(p[:n]))
			},
			events: []string{`write "response"`, "read"},
		},
		{
			name: "Read with nothing buffered only reads",
			in:   "x",
			run: func(t *testing.T, b *protocol.BufConn) {
				_, err := b.Read(make([]byte, 4))
				require.NoError(t, err)
			},
			events: []string{"read"},
		},
		{
			name: "Close flushes, then closes",
			run: func(t *testing.T, b *protocol.BufConn) {
				_, err := b.Write([]byte("last ERR"))
				require.NoError(t, err)
				require.NoError(t, b.Close())
			},
			events: []string{"deadline", `write "last ERR"`, "close"},
		},
		{
			name: "Close with nothing buffered",
			run: func(t *testing.T, b *protocol.BufConn) {
				require.NoError(t, b.Close())
			},
			events: []string{"close"},
		},
		{
			name: "a write larger than the buffer goes through",
			run: func(t *testing.T, b *protocol.BufConn) {
				_, err := b.Write([]byte(strings.Repeat("z", 20)))
				require.NoError(t, err)
			},
			events: []string{`write "zzzzzzzzzzzzzzzzzzzz"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newRecConn(tc.in)
			tc.run(t, protocol.NewBufConn(rc, 16))
			require.Equal(t, tc.events, rc.events)
		})
	}
}

func TestBufConnReadReportsFlushError(t *testing.T) {
	rc := newRecConn("never read")
	rc.writeErr = errors.New("broken pipe")
	b := protocol.NewBufConn(rc, 64)
	_, err := b.Write([]byte("response"))
	require.NoError(t, err)
	_, err = b.Read(make([]byte, 8))
	require.ErrorIs(t, err, rc.writeErr)
	require.Equal(t, []string{"write-failed"}, rc.events, "no read after a failed flush")
}

// A peer that never reads must not block Close forever: the flush is
// bounded by a write deadline.
func TestBufConnCloseDoesNotHang(t *testing.T) {
	a, peer := net.Pipe()
	defer peer.Close()
	b := protocol.NewBufConn(a, 64)
	_, err := b.Write([]byte("nobody reads this"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a peer that does not read")
	}
	_, err = peer.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the socket is closed")
}
