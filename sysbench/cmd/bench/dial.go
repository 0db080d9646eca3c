package main

import (
	"context"
	"net"
	"sync"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"
)

// manyClientsNet is the go-sql-driver network name of the dialer used by
// the idle-connection and multiplexing measurements (openClients).
const manyClientsNet = "bench-many"

// manyClientsSource is the local address those clients connect from
// when the proxy listens on 127.0.0.1.
//
// Ten thousand clients that close leave ten thousand sockets in TIME_WAIT
// for a minute, on ports of the ephemeral range (32768-60999 by default),
// which is also where the sandboxes and proxies of tests running beside
// the benchmark listen: a server binding 127.0.0.1:P fails with "address
// in use" while a TIME_WAIT socket holds 127.0.0.1:P. From 127.0.0.2 the
// clients' ports never collide with a listener on 127.0.0.1.
var manyClientsSource = net.IPv4(127, 0, 0, 2)

var registerManyClients sync.Once

// manyClientsNetwork registers the dialer (once) and returns its name.
func manyClientsNetwork() string {
	registerManyClients.Do(func() {
		mysql.RegisterDialContext(manyClientsNet, dialManyClients)
	})
	return manyClientsNet
}

// dialManyClients connects to addr, from manyClientsSource when addr is
// on 127.0.0.1. IP_BIND_ADDRESS_NO_PORT lets the kernel choose the local
// port at connect time, per destination, as for an unbound socket: bound
// first, every client would need a port of its own across all
// destinations.
func dialManyClients(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{}
	if host, _, err := net.SplitHostPort(addr); err == nil && host == "127.0.0.1" {
		d.LocalAddr = &net.TCPAddr{IP: manyClientsSource}
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return d.DialContext(ctx, "tcp", addr)
}
