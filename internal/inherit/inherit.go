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
	"os"
	"sync"
)

// Gossip is an inherited cluster gossip port (its TCP listener and UDP
// socket) and what the node that used it was: its name and its peers.
type Gossip struct {
	Name     string
	Peers    []string
	TCP, UDP *os.File
}

var table struct {
	sync.Mutex
	// gossip: configured cluster.bind → the inherited gossip port.
	gossip map[string]*Gossip
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

// ProvideGossip registers g, inherited for cluster.bind addr; the next
// TakeGossip(addr) returns it.
func ProvideGossip(addr string, g *Gossip) {
	table.Lock()
	defer table.Unlock()
	if table.gossip == nil {
		table.gossip = make(map[string]*Gossip)
	}
	if old := table.gossip[addr]; old != nil {
		_, _ = old.TCP.Close(), old.UDP.Close()
	}
	table.gossip[addr] = g
}

// TakeGossip returns the gossip port inherited for addr (the caller owns
// its files), or nil.
func TakeGossip(addr string) *Gossip {
	table.Lock()
	defer table.Unlock()
	g := table.gossip[addr]
	delete(table.gossip, addr)
	return g
}

// HasGossip reports whether a gossip port was inherited.
func HasGossip() bool {
	table.Lock()
	defer table.Unlock()
	return len(table.gossip) > 0
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
	for addr, g := range table.gossip {
		_, _ = g.TCP.Close(), g.UDP.Close()
		n++
		delete(table.gossip, addr)
	}
	return n
}
