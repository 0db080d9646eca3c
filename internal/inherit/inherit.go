// Package inherit holds the listening sockets a new rwproxy process
// received from the process it takes over from (internal/handover): the
// listeners that would open an address take the inherited socket instead,
// so that no connection attempt is refused while the processes change.
//
// Inherited sockets are per process, not per App: the package keeps them
// in one process-wide table. It is safe for concurrent use.
package inherit

import (
	"net"
	"sync"
)

var table struct {
	sync.Mutex
	// byAddr: configured address → inherited listeners, in the order the
	// old process opened them (several may share "127.0.0.1:0").
	byAddr map[string][]net.Listener
}

// Provide registers ln, inherited for the configured address addr; the
// next Listen(addr) returns it.
func Provide(addr string, ln net.Listener) {
	table.Lock()
	defer table.Unlock()
	if table.byAddr == nil {
		table.byAddr = make(map[string][]net.Listener)
	}
	table.byAddr[addr] = append(table.byAddr[addr], ln)
}

// Listen returns the socket inherited for addr, if any, else a new TCP
// listener on addr.
func Listen(addr string) (net.Listener, error) {
	table.Lock()
	if l := table.byAddr[addr]; len(l) > 0 {
		ln := l[0]
		if table.byAddr[addr] = l[1:]; len(l) == 1 {
			delete(table.byAddr, addr)
		}
		table.Unlock()
		return ln, nil
	}
	table.Unlock()
	return net.Listen("tcp", addr)
}

// CloseUnused closes the inherited sockets no Listen took (a listener the
// new configuration no longer has) and reports how many there were.
func CloseUnused() int {
	table.Lock()
	defer table.Unlock()
	n := 0
	for addr, l := range table.byAddr {
		for _, ln := range l {
			_ = ln.Close()
			n++
		}
		delete(table.byAddr, addr)
	}
	return n
}
