// Package topology holds the leaf data types shared by the monitor, the
// router, the pools and the admin interface: which servers exist, in which
// hostgroup, with what weight and state. A *Snapshot is immutable: build a
// new one to change anything.
package topology

import (
	"net"
	"strconv"

	"github.com/rwproxy/rwproxy/config"
)

// State is a backend's runtime state, as in ProxySQL's runtime_mysql_servers.
type State string

// States. ONLINE takes traffic; SHUNNED is set by the monitor (failed
// checks, or replication lag over max_replication_lag) and lifted by it;
// OFFLINE_SOFT takes no new work but lets open transactions finish;
// OFFLINE_HARD takes nothing.
const (
	StateOnline      State = "ONLINE"
	StateShunned     State = "SHUNNED"
	StateShunnedLag  State = "SHUNNED_REPLICATION_LAG"
	StateOfflineSoft State = "OFFLINE_SOFT"
	StateOfflineHard State = "OFFLINE_HARD"
)

// Backend is one server in one hostgroup.
type Backend struct {
	Hostgroup         int
	Addr              string
	Weight            int
	State             State
	MaxConnections    int
	MaxReplicationLag int
	// LagSeconds is the last measured replication lag; -1 when unknown
	// (not a replica, or not measured yet).
	LagSeconds float64
	// ReadOnly is the server's last seen read_only (or the configured
	// check_type variable).
	ReadOnly bool
}

// Usable reports whether the backend may take new work.
func (b *Backend) Usable() bool { return b.State == StateOnline && b.Weight > 0 }

// Snapshot is an immutable view of every hostgroup.
type Snapshot struct {
	Hostgroups map[int][]Backend
}

// Addr formats host:port.
func Addr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// FromConfig builds a snapshot from the configured servers, as they are
// before any monitoring: configured status, lag unknown.
func FromConfig(c *config.Config) *Snapshot {
	s := &Snapshot{Hostgroups: make(map[int][]Backend)}
	for _, sv := range c.Servers {
		st := State(sv.Status)
		if st == "" {
			st = StateOnline
		}
		s.Hostgroups[sv.Hostgroup] = append(s.Hostgroups[sv.Hostgroup], Backend{
			Hostgroup: sv.Hostgroup, Addr: Addr(sv.Host, sv.Port), Weight: sv.Weight, State: st,
			MaxConnections: sv.MaxConnections, MaxReplicationLag: sv.MaxReplicationLag, LagSeconds: -1,
		})
	}
	return s
}
