package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

// scriptConn serves a fixed byte stream one byte per Read and records
// what is written.
type scriptConn struct {
	net.Conn
	r     io.Reader
	wrote bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.wrote.Write(b) }

func pkt(seq byte, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	n := len(p)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, p...)
}

func greetingWith(plugin string) []byte {
	return pkt(0, []byte{10}, []byte("8.0.0\x00"), make([]byte, 4), []byte("abcdefgh\x00"), make([]byte, 18),
		[]byte("ijklmnopqrst\x00"), []byte(plugin+"\x00"))
}

// TestLoginGuard follows the server's login packets however they are cut
// and withholds the end of a refused request.
func TestLoginGuard(t *testing.T) {
	sslRequest := pkt(1, []byte{0, 0x08, 0, 0}, make([]byte, 28)) // CLIENT_SSL is 0x800
	response := pkt(1, []byte{0x0f, 0xa2, 0, 0}, make([]byte, 28))
	tests := []struct {
		name    string
		stream  [][]byte
		first   []byte // the client's first write
		refused string
	}{
		{name: "switch to clear password", stream: [][]byte{greetingWith(mysql.AUTH_NATIVE_PASSWORD),
			pkt(2, []byte{0xfe}, []byte("mysql_clear_password\x00"))}, first: response, refused: mysql.AUTH_CLEAR_PASSWORD},
		{name: "old auth switch", stream: [][]byte{greetingWith(mysql.AUTH_NATIVE_PASSWORD), pkt(2, []byte{0xfe})},
			first: response, refused: mysql.AUTH_MYSQL_OLD_PASSWORD},
		{name: "sha256 public key", stream: [][]byte{greetingWith(mysql.AUTH_SHA256_PASSWORD),
			pkt(2, []byte{0x01}, []byte("-----BEGIN PUBLIC KEY-----"))}, first: response, refused: mysql.AUTH_SHA256_PASSWORD},
		{name: "caching_sha2 fast auth", stream: [][]byte{greetingWith(mysql.AUTH_CACHING_SHA2_PASSWORD),
			pkt(2, []byte{0x01, 0x03}), pkt(3, []byte{0, 0, 0, 2, 0, 0, 0})}, first: response},
		{name: "switch to native, then OK ends the login", stream: [][]byte{greetingWith(mysql.AUTH_CACHING_SHA2_PASSWORD),
			pkt(2, []byte{0xfe}, []byte("mysql_native_password\x00"), make([]byte, 21)), pkt(4, []byte{0, 0, 0, 2, 0, 0, 0}),
			pkt(1, []byte{0xfe}, []byte("mysql_clear_password\x00"))}, first: response},
		{name: "TLS: the guard steps aside", stream: [][]byte{greetingWith(mysql.AUTH_NATIVE_PASSWORD),
			pkt(2, []byte{0xfe}, []byte("mysql_clear_password\x00"))}, first: sslRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := bytes.Join(tc.stream, nil)
			sc := &scriptConn{r: iotest.OneByteReader(bytes.NewReader(all))}
			g := NewLoginGuard(sc)
			var got []byte
			buf := make([]byte, 64)
			var err error
			for {
				var n int
				if len(got) == len(tc.stream[0]) && sc.wrote.Len() == 0 {
					_, werr := g.Write(tc.first)
					require.NoError(t, werr)
				}
				n, err = g.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if tc.refused == "" {
				require.ErrorIs(t, err, io.EOF)
				require.Equal(t, all, got)
				require.Empty(t, g.Refused())
				return
			}
			var pe *PluginRefusedError
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Equal(t, tc.refused, pe.Plugin)
			require.ErrorIs(t, err, ErrPluginRefused)
			require.Equal(t, tc.refused, g.Refused())
			require.Less(t, len(got), len(all), "the refused request reached the client whole")
			_, werr := g.Write([]byte("password"))
			require.ErrorIs(t, werr, ErrPluginRefused)
			require.Equal(t, tc.first, sc.wrote.Bytes(), "nothing written after the refusal")
		})
	}
}

// TestLoginGuardSyscallConn: the guard passes its socket on to checks
// that need the file descriptor.
func TestLoginGuardSyscallConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	var sc syscall.Conn = NewLoginGuard(nc)
	rc, err := sc.SyscallConn()
	require.NoError(t, err)
	require.NoError(t, rc.Control(func(uintptr) {}))
	_, err = NewLoginGuard(&scriptConn{}).SyscallConn()
	require.ErrorIs(t, err, errNoSyscallConn)
}
