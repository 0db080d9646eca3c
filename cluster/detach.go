package cluster

import (
	"errors"
	"net"
	"os"
	"strconv"

	"go.uber.org/zap"
)

// Detached is a node stopped for a zero-downtime upgrade: its gossip
// sockets (duplicates, kept open for the new process) and what the new
// node needs to continue it under the same name.
type Detached struct {
	// Name is the node's name; the new node must use it (the
	// configuration it is built from gives it, or the port does).
	Name string
	// TCP and UDP are the gossip port; the holder closes them.
	TCP, UDP *os.File
	// Peers are the members alive when the node stopped (host:port), for
	// the new node to join at once.
	Peers []string
}

// Close closes the sockets.
func (d *Detached) Close() error { return errors.Join(d.TCP.Close(), d.UDP.Close()) }

// ErrNoSockets is a node on a transport of its own (tests): it cannot be
// detached.
var ErrNoSockets = errors.New("cluster: the node has no gossip sockets to hand over")

// Detach stops the node without leaving the cluster: its peers keep it
// as a member, alive, and a node started on the returned sockets
// (Options.Sockets) with the same name continues it (it takes a higher
// incarnation as soon as it hears of itself, as memberlist refutes any
// older news about a node). Probes in between go unanswered for as long
// as no process gossips on the sockets, which is far below the
// suspicion timeout. After Detach the node is closed (Close does
// nothing); on a failed upgrade the old process starts a new node on the
// sockets again.
func (n *Node) Detach() (*Detached, error) {
	if n.sockets == nil {
		return nil, ErrNoSockets
	}
	tcp, udp, err := n.sockets.Files()
	if err != nil {
		return nil, err
	}
	d := &Detached{Name: n.name, TCP: tcp, UDP: udp}
	for _, m := range n.ml.Members() {
		if m.Name != n.name {
			d.Peers = append(d.Peers, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))))
		}
	}
	stopped := false
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
		err = n.ml.Shutdown() // no Leave: the peers must not see this node go
		n.muteML()
		stopped = true
	})
	if !stopped {
		_ = d.Close()
		return nil, errors.New("cluster: node already closed")
	}
	n.lg.Info("cluster node detached for an upgrade (no leave)", zap.Int("peers", len(d.Peers)), zap.Error(err))
	return d, nil
}
