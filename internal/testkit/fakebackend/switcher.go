package fakebackend

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Switcher is a fake server that greets with mysql_native_password and
// answers every login with an AuthSwitchRequest to a plugin of the
// test's choice (mysql_clear_password, ...), then records what the client
// sends back before it refuses the login.
type Switcher struct {
	Addr string
	mu   sync.Mutex
	got  [][]byte // per login: the bytes received after the switch request
}

// Replies returns what each login sent after the switch request (nil
// entries: the client sent nothing).
func (s *Switcher) Replies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got...)
}

// StartSwitcher serves until the test ends; data is the plugin data of
// the switch request.
func StartSwitcher(t testing.TB, plugin string, data []byte) *Switcher {
	t.Helper()
	s := &Switcher{}
	s.Addr = Listen(t, func(nc net.Conn) { s.serve(nc, plugin, data) })
	return s
}

func (s *Switcher) serve(nc net.Conn, plugin string, data []byte) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if writePacket(nc, 0, greeting()) != nil {
		return
	}
	if _, err := readPacket(nc); err != nil { // the handshake response
		return
	}
	sw := append(append([]byte{mysql.EOF_HEADER}, plugin...), 0)
	if writePacket(nc, 2, append(sw, data...)) != nil {
		return
	}
	// Whatever comes back within a second is what the client answered.
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	reply, _ := io.ReadAll(io.LimitReader(nc, 1<<16))
	s.mu.Lock()
	s.got = append(s.got, reply)
	s.mu.Unlock()
	if len(reply) > 0 {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_ = writePacket(nc, 4, append([]byte{mysql.ERR_HEADER, 0x15, 0x04, '#'}, "28000Access denied"...))
	}
}

// greeting is a protocol-10 greeting offering mysql_native_password.
func greeting() []byte {
	caps := uint32(mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION |
		mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_MULTI_STATEMENTS |
		mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
	var b bytes.Buffer
	b.WriteByte(10)
	b.WriteString("8.4.0-switcher\x00")
	b.Write([]byte{1, 0, 0, 0})
	b.WriteString("abcdefgh\x00")
	b.Write(binary.LittleEndian.AppendUint16(nil, uint16(caps)))
	b.WriteByte(mysql.DEFAULT_COLLATION_ID)
	b.Write([]byte{2, 0})
	b.Write(binary.LittleEndian.AppendUint16(nil, uint16(caps>>16)))
	b.WriteByte(21)
	b.Write(make([]byte, 10))
	b.WriteString("ijklmnopqrst\x00")
	b.WriteString(mysql.AUTH_NATIVE_PASSWORD + "\x00")
	return b.Bytes()
}

func writePacket(w io.Writer, seq byte, payload []byte) error {
	n := len(payload)
	_, err := w.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...))
	return err
}

func readPacket(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(r, p)
	return p, err
}
