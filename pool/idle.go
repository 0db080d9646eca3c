package pool

import (
	"maps"
	"sort"
	"time"
)

// IdleConn describes one idle pooled backend connection
// (stats_mysql_free_connections on the admin interface).
type IdleConn struct {
	Addr, User string
	// Schema is the connection's current schema ("" = none).
	Schema string
	// ThreadID is the connection's id on the server (CONNECTION_ID()).
	ThreadID uint32
	// Vars are the session variables applied on it that differ from the
	// server's defaults (a copy).
	Vars map[string]string
	// Idle is how long it has waited in the pool, Age how long it exists.
	Idle, Age time.Duration
	// Stmts counts the prepared statements it holds.
	Stmts         int
	ServerVersion string
}

// IdleConns lists the idle connections of every pool, at most limit of
// them, by address, user and longest idle first. Only the pools' locks
// are taken, one at a time: an idle connection's fields do not change
// while it is on an idle list.
func (m *Manager) IdleConns(limit int) []IdleConn {
	m.mu.Lock()
	pools := make([]*Pool, 0, len(m.mu.pools))
	for _, p := range m.mu.pools {
		pools = append(pools, p)
	}
	m.mu.Unlock()
	now := time.Now()
	var out []IdleConn
	for _, p := range pools {
		p.mu.Lock()
		for _, c := range p.mu.idle {
			out = append(out, IdleConn{Addr: p.key.Addr, User: p.key.User, Schema: c.DB,
				ThreadID: c.GetConnectionID(), Vars: maps.Clone(c.Vars), Idle: now.Sub(c.lastUsed),
				Age: now.Sub(c.created), Stmts: c.Stmts.Len(), ServerVersion: c.GetServerVersion()})
		}
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Addr != b.Addr {
			return a.Addr < b.Addr
		}
		if a.User != b.User {
			return a.User < b.User
		}
		return a.Idle > b.Idle
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
