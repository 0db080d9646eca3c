package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"syscall"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// BackendSafePlugins are the authentication plugins rwproxy's backend
// logins (pool, monitor) answer without TLS: none of them sends the
// password, or anything a listener can turn back into it.
var BackendSafePlugins = []string{mysql.AUTH_NATIVE_PASSWORD, mysql.AUTH_CACHING_SHA2_PASSWORD, mysql.AUTH_MARIADB_ED25519}

// ErrPluginRefused is in the chain of a backend login refused by a
// LoginGuard (see PluginRefusedError).
var ErrPluginRefused = errors.New("authentication plugin refused without TLS")

// PluginRefusedError is a backend login that a LoginGuard stopped: the
// server asked for Plugin, which is not one of BackendSafePlugins, on a
// connection without TLS.
type PluginRefusedError struct{ Plugin string }

func (e *PluginRefusedError) Error() string {
	return fmt.Sprintf("backend asked for authentication plugin %q without TLS: refused, the password would cross "+
		"the network in a form a listener can read (use TLS to this backend, or an account with one of %v)",
		e.Plugin, BackendSafePlugins)
}

// Unwrap makes errors.Is(err, ErrPluginRefused) true.
func (e *PluginRefusedError) Unwrap() error { return ErrPluginRefused }

// loginHeadMax bounds what a LoginGuard keeps of one server packet: the
// greeting's plugin name ends within it (the greeting is ~80 bytes plus
// the server's version string).
const loginHeadMax = 512

// LoginGuard wraps a backend connection while go-mysql's client logs in
// over it. go-mysql follows any authentication switch a server asks for,
// mysql_clear_password included (the password sent as it is), and gives
// its caller no hook to refuse one: the guard reads the server's login
// packets as they pass and, unless the client asked for TLS, fails the
// read that would complete an AuthSwitchRequest for a plugin outside
// BackendSafePlugins (the client never sees the request, so it never
// answers it), or a sha256_password public-key exchange. A write after a
// refusal is refused too. Once the server has answered the login (OK or
// ERR), or the client started TLS (whose records the guard cannot read,
// and which protects the password), the guard only passes bytes through.
//
// A LoginGuard belongs to the goroutine that logs in.
type LoginGuard struct {
	net.Conn
	tls, over, wrote bool
	refused          string
	// The server packet being read: its header so far, the payload
	// bytes still to come, and the start of the payload.
	hdr  [4]byte
	hn   int
	left int
	head []byte
	npkt int
	// plugin is the plugin in use: the greeting's, then a switch's.
	plugin string
}

// NewLoginGuard guards the login on nc.
func NewLoginGuard(nc net.Conn) *LoginGuard { return &LoginGuard{Conn: nc} }

// Refused names the plugin the guard refused, or "".
func (g *LoginGuard) Refused() string { return g.refused }

// NetConn is the guarded connection.
func (g *LoginGuard) NetConn() net.Conn { return g.Conn }

// errNoSyscallConn: the guarded connection has no file descriptor.
var errNoSyscallConn = errors.New("protocol: guarded connection is not a syscall.Conn")

// SyscallConn is the guarded socket's: a TLS backend connection keeps its
// guard under the tls.Conn (which cannot be unwrapped), and checks that
// look at the socket itself (pool's dead-connection check, through
// tls.Conn.NetConn) must still reach it.
func (g *LoginGuard) SyscallConn() (syscall.RawConn, error) {
	sc, ok := g.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSyscallConn
	}
	return sc.SyscallConn()
}

// Read reads from the connection; see LoginGuard.
func (g *LoginGuard) Read(b []byte) (int, error) {
	if g.refused != "" {
		return 0, &PluginRefusedError{Plugin: g.refused}
	}
	n, err := g.Conn.Read(b)
	if g.tls || g.over || n <= 0 {
		return n, err
	}
	if perr := g.scan(b[:n]); perr != nil {
		return 0, perr
	}
	return n, err
}

// Write writes to the connection; see LoginGuard.
func (g *LoginGuard) Write(b []byte) (int, error) {
	if g.refused != "" {
		return 0, &PluginRefusedError{Plugin: g.refused}
	}
	if !g.wrote {
		g.wrote = true
		// The client's first packet is an SSLRequest when it starts TLS:
		// its capability flags carry CLIENT_SSL.
		if len(b) >= 8 && binary.LittleEndian.Uint32(b[4:8])&mysql.CLIENT_SSL != 0 {
			g.tls = true
		}
	}
	return g.Conn.Write(b)
}

// scan follows the server's packets through p.
func (g *LoginGuard) scan(p []byte) error {
	for len(p) > 0 && !g.over {
		if g.hn < 4 {
			k := copy(g.hdr[g.hn:], p)
			g.hn += k
			p = p[k:]
			if g.hn == 4 {
				g.left = int(g.hdr[0]) | int(g.hdr[1])<<8 | int(g.hdr[2])<<16
				g.head = g.head[:0]
				if g.left == 0 {
					if err := g.packet(); err != nil {
						return err
					}
				}
			}
			continue
		}
		k := min(len(p), g.left)
		if room := loginHeadMax - len(g.head); room > 0 {
			g.head = append(g.head, p[:min(k, room)]...)
		}
		g.left -= k
		p = p[k:]
		if g.left == 0 {
			if err := g.packet(); err != nil {
				return err
			}
		}
	}
	return nil
}

// packet judges one complete server packet of the login.
func (g *LoginGuard) packet() error {
	g.hn = 0
	g.npkt++
	pl := g.head
	if g.npkt == 1 { // the greeting: its last field is the plugin name
		g.plugin = greetingPlugin(pl)
		return nil
	}
	if len(pl) == 0 {
		return nil
	}
	switch pl[0] {
	case mysql.OK_HEADER, mysql.ERR_HEADER:
		g.over = true
		return nil
	case mysql.EOF_HEADER: // AuthSwitchRequest
		name := mysql.AUTH_MYSQL_OLD_PASSWORD // the old, 1-byte request
		if len(pl) > 1 {
			name = string(pl[1:])
			if i := bytes.IndexByte(pl[1:], 0); i >= 0 {
				name = string(pl[1 : 1+i])
			}
		}
		g.plugin = name
	case mysql.MORE_DATE_HEADER: // plugin data: sha256_password's public key
	default:
		return nil
	}
	if !slices.Contains(BackendSafePlugins, g.plugin) {
		g.refused = g.plugin
		return &PluginRefusedError{Plugin: g.plugin}
	}
	return nil
}

// greetingPlugin is the plugin name that ends a protocol-10 greeting, or
// mysql_native_password when there is none.
func greetingPlugin(pl []byte) string {
	if len(pl) < 2 || pl[len(pl)-1] != 0 {
		return mysql.AUTH_NATIVE_PASSWORD
	}
	body := pl[:len(pl)-1]
	name := body[bytes.LastIndexByte(body, 0)+1:]
	if len(name) == 0 {
		return mysql.AUTH_NATIVE_PASSWORD
	}
	return string(name)
}
