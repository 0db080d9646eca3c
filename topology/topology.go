// Package topology holds the leaf data types shared by the monitor, the
// router, the pools and the admin interface: which servers exist, in which
// hostgroup, with what weight and state. A *Snapshot is immutable.
package topology

import (
	"net"
	"strconv"

	"github.com/rwproxy/rwproxy/config"
)

// Backend is one server in one hostgroup.
type Backend struct {
	Hostgroup         int
	Addr              string
	Weight            int
	Status            string
	MaxConnections    int
	MaxReplicationLag int
}

// Usable reports whether the backend may take new work.
func (b *Backend) Usable() bool { return b.Status == config.StatusOnline && b.Weight > 0 }

// Snapshot is an immutable view of every hostgroup.
type Snapshot struct {
	Hostgroups map[int][]Backend
}

// Addr formats host:port.
func Addr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// FromConfig builds a snapshot from the configured servers.
func FromConfig(c *config.Config) *Snapshot {
	s := &Snapshot{Hostgroups: make(map[int][]Backend)}
	for _, sv := range c.Servers {
		s.Hostgroups[sv.Hostgroup] = append(s.Hostgroups[sv.Hostgroup], Backend{
			Hostgroup: sv.Hostgroup, Addr: Addr(sv.Host, sv.Port), Weight: sv.Weight,
			Status: sv.Status, MaxConnections: sv.MaxConnections, MaxReplicationLag: sv.MaxReplicationLag,
		})
	}
	return s
}
