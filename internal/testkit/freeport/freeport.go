// Package freeport finds a port for a test's listeners that is free for
// TCP and UDP on every given loopback address (nodes of a cluster test
// that share one port on 127.0.0.1, .2 and .3, as pods do).
//
// Ports are drawn from 12000–19999: below the kernel's ephemeral range
// (32768 and up), so that no outgoing connection of another process can
// take a port between the check and the test's own bind — the race a port
// from "127.0.0.1:0" has once its listener is closed — and away from the
// fixed sandbox ranges of the test packages (23xxx and up).
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// OnAll returns a port free for TCP and UDP on each of ips.
func OnAll(ips ...string) (int, error) {
	for range 200 {
		port := 12000 + rand.IntN(8000)
		if bindsOn(port, ips) {
			return port, nil
		}
	}
	return 0, errors.New("freeport: no port in 12000-19999 is free on every address")
}

// bindsOn reports whether port can be bound for TCP and UDP on each of ips.
func bindsOn(port int, ips []string) bool {
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		u, err := net.ListenPacket("udp", addr)
		_ = l.Close()
		if err != nil {
			return false
		}
		_ = u.Close()
	}
	return true
}
