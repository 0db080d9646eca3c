package admin

import (
	"fmt"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/rwproxy/rwproxy/config"
)

// statusShunned is ProxySQL's SHUNNED, accepted in mysql_servers.status:
// it loads as ONLINE (shunning is the monitor's call, as in ProxySQL).
const statusShunned = "SHUNNED"

// checkTypesSQL lists mysql_replication_hostgroups.check_type's values
// for its CHECK: ProxySQL's, combinations included.
var checkTypesSQL = func() string {
	vals := []string{config.CheckReadOnly, config.CheckSuperReadOnly, config.CheckInnodbReadOnly,
		config.CheckReadOnlyOrInnodb, config.CheckReadOnlyAndInnodb}
	for i, v := range vals {
		vals[i] = quoteString(v)
	}
	return strings.Join(vals, ",")
}()

// Column positions in mysql_users (see tUsers).
const (
	ucUsername = iota
	ucPassword
	ucActive
	ucDefaultHostgroup
	ucTransactionPersistent
	ucMaxConnections
	ucConsistency
	ucRYWTimeout
	ucAuthPlugin
	ucRequireTLS
	ucBackendPassword
	ucQueryTimeout
	ucAllowEmptyPassword
	ucBackend
	ucFrontend
	ucFastForward
	ucDefaultSchema
	ucSchemaLocked
	ucUseSSL
	ucAttributes
	ucComment
	ucConsistencyScope
)

// userRow is u's mysql_users row: one row, backend=1, frontend=1 unless
// the user is backend-only.
func userRow(u config.User) row {
	plugin := u.AuthPlugin
	if plugin == "" {
		plugin = config.AuthNativePassword
	}
	return row{u.Username, u.Password, boolInt(u.IsActive()), int64(u.DefaultHostgroup),
		boolInt(u.IsTransactionPersistent()), int64(u.MaxConnections), u.Consistency,
		u.ReadYourWritesTimeout.Milliseconds(), plugin, boolInt(u.RequireTLS), u.BackendPassword,
		u.QueryTimeout.Milliseconds(), boolInt(u.AllowEmptyPassword),
		int64(1), boolInt(u.IsFrontend()), boolInt(u.FastForward), u.DefaultSchema, boolInt(u.SchemaLocked),
		boolInt(u.RequireTLS), u.Attributes, u.Comment, consistencyScope(u)}
}

// consistencyScope is u's consistency_scope column: the default for a
// configuration from an older rwproxy, which has none.
func consistencyScope(u config.User) string {
	if u.ConsistencyScope == "" {
		return config.DefaultConsistencyScope
	}
	return u.ConsistencyScope
}

// userFromRow is the user a mysql_users row describes on its own.
func userFromRow(r row) config.User {
	u := config.User{Username: asString(r[ucUsername]), Password: asString(r[ucPassword]), Active: activePtr(r[ucActive]),
		DefaultHostgroup: asInt(r[ucDefaultHostgroup]), MaxConnections: asInt(r[ucMaxConnections]),
		Consistency:           asString(r[ucConsistency]),
		ReadYourWritesTimeout: time.Duration(asInt(r[ucRYWTimeout])) * time.Millisecond, AuthPlugin: asString(r[ucAuthPlugin]),
		RequireTLS:         asInt(r[ucRequireTLS]) == 1 || asInt(r[ucUseSSL]) == 1,
		BackendPassword:    asString(r[ucBackendPassword]),
		QueryTimeout:       time.Duration(asInt(r[ucQueryTimeout])) * time.Millisecond,
		AllowEmptyPassword: asInt(r[ucAllowEmptyPassword]) == 1,
		FastForward:        asInt(r[ucFastForward]) == 1, DefaultSchema: asString(r[ucDefaultSchema]),
		SchemaLocked: asInt(r[ucSchemaLocked]) == 1, Attributes: asString(r[ucAttributes]), Comment: asString(r[ucComment]),
		ConsistencyScope: asString(r[ucConsistencyScope])}
	if u.AuthPlugin == config.AuthNativePassword {
		u.AuthPlugin = "" // the default
	}
	if asInt(r[ucTransactionPersistent]) == 0 {
		f := false
		u.TransactionPersistent = &f
	}
	if asInt(r[ucFrontend]) == 0 {
		f := false
		u.Frontend = &f
	}
	return u
}

// setUsers replaces c's users with rows. A username has one row
// (backend=1, frontend=1: clients and backends use the same credentials),
// or ProxySQL's pair: the frontend=1 row clients log in with, which holds
// the settings, and the backend=1 row whose password rwproxy logs into the
// backends with. A lone backend=1 row is a backend-only user no client
// may log in as; a lone frontend=1, backend=0 row has no credentials for
// the backends and is refused.
func setUsers(c *config.Config, rows []row) error {
	type pair struct{ front, back row }
	var order []string
	byName := make(map[string]*pair)
	for _, r := range rows {
		name := asString(r[ucUsername])
		p := byName[name]
		if p == nil {
			p = &pair{}
			byName[name] = p
			order = append(order, name)
		}
		if asInt(r[ucFrontend]) == 1 {
			p.front = r
		}
		if asInt(r[ucBackend]) == 1 {
			p.back = r
		}
	}
	c.Users = c.Users[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
	for _, name := range order {
		p := byName[name]
		switch {
		case p.front == nil:
			c.Users = append(c.Users, userFromRow(p.back))
		case p.back == nil:
			return fmt.Errorf("mysql_users: %q has a frontend=1, backend=0 row but no backend=1 row: "+
				"add one with the password rwproxy logs into the backends with", name)
		case asInt(p.front[ucBackend]) == 1:
			c.Users = append(c.Users, userFromRow(p.front))
		default:
			u := userFromRow(p.front)
			back := asString(p.back[ucPassword])
			if config.IsNativeHash(back) {
				return fmt.Errorf("mysql_users: %q: the backend=1 row's password must be plain text "+
					"(rwproxy logs into the backends with it)", name)
			}
			if u.BackendPassword != "" && u.BackendPassword != back {
				return fmt.Errorf("mysql_users: %q: backend_password of the frontend row differs from "+
					"the backend=1 row's password: keep one", name)
			}
			if back != u.Password {
				u.BackendPassword = back
			}
			c.Users = append(c.Users, u)
		}
	}
	return nil
}

// processRows fills stats_mysql_processlist: one row per client session,
// ThreadID and SessionID both the connection id KILL takes.
func processRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.Processes))
	for _, p := range s.Processes {
		host, port := splitAddr(p.Backend)
		lhost, lport := splitAddr(p.Local)
		var info any
		if p.Info != "" {
			info = p.Info
		}
		out = append(out, row{int64(p.ID), int64(p.ID), p.User, p.DB, p.ClientHost, int64(p.ClientPort),
			int64(p.Hostgroup), lhost, lport, host, port, p.Command, p.Time.Milliseconds(), info,
			boolInt(p.InTxn), ""})
	}
	return out
}

// statsUserRows fills stats_mysql_users: every configured user with its
// client sessions and its max_connections (0 = no cap).
func statsUserRows(s *Stats, c *config.Config) []row {
	out := make([]row, 0, len(c.Users))
	for _, u := range c.Users {
		out = append(out, row{u.Username, int64(s.UserConns[u.Username]), int64(u.MaxConnections)})
	}
	return out
}

// ruleHitRows fills stats_mysql_query_rules: rule_id and hits of every
// active rule of the running configuration.
func ruleHitRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.RuleHits))
	for _, h := range s.RuleHits {
		out = append(out, row{int64(h.RuleID), int64(h.Hits)})
	}
	return out
}

// commandBuckets is how many latency columns stats_mysql_commands_counters has.
const commandBuckets = 12

// commandRows fills stats_mysql_commands_counters, one row per command class.
func commandRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.Commands))
	for _, c := range s.Commands {
		r := row{c.Command, int64(c.TotalTimeUs), int64(c.Count)}
		for i := range commandBuckets {
			var n uint64
			if i < len(c.Buckets) {
				n = c.Buckets[i]
			}
			r = append(r, int64(n))
		}
		out = append(out, r)
	}
	return out
}

// maxCollationID bounds the collation ids mysql_collations lists.
const maxCollationID = 512

// collationRows fills mysql_collations: the MySQL collations the SQL
// parser knows, by id ("Yes" in Default for a charset's default).
func collationRows(*Stats, *config.Config) []row {
	var out []row
	for id := 1; id < maxCollationID; id++ {
		c, err := charset.GetCollationByID(id)
		if err != nil || c.ID != id {
			continue
		}
		def := ""
		if c.IsDefault {
			def = "Yes"
		}
		out = append(out, row{int64(c.ID), c.Name, c.CharsetName, def})
	}
	return out
}

// checksumRows fills runtime_checksums_values: ProxySQL's checksum 0x + 16
// hex digits (the first 64 bits of the module's SHA-256, as peers compare).
func checksumRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.Checksums))
	for _, m := range s.Checksums {
		sum := m.Checksum
		if len(sum) > 16 {
			sum = sum[:16]
		}
		out = append(out, row{m.Name, int64(m.Version), m.Epoch.Unix(), "0x" + strings.ToUpper(sum)})
	}
	return out
}

// poolResetCounters are the stats_mysql_connection_pool columns that
// stats_mysql_connection_pool_reset shows as a change since its previous
// read: ConnOK, ConnERR, Queries, Bytes_data_sent, Bytes_data_recv.
var poolResetCounters = []int{6, 7, 8, 9, 10}

// poolSinceLastReset turns connection pool rows into their change since
// the previous read of stats_mysql_connection_pool_reset, and remembers
// them for the next. rwproxy's counters themselves never go back (they are
// also Prometheus counters). Called with e.mu held.
func (e *engine) poolSinceLastReset(rows []row) []row {
	base := make(map[string]row, len(rows))
	out := make([]row, 0, len(rows))
	for _, r := range rows {
		key := fmt.Sprint(r[0], "/", r[1], "/", r[2])
		base[key] = r
		prev := e.mu.poolBase[key]
		d := append(row(nil), r...)
		for _, i := range poolResetCounters {
			if prev != nil {
				if n, p := d[i].(int64), prev[i].(int64); n >= p {
					d[i] = n - p
				}
			}
		}
		out = append(out, d)
	}
	e.mu.poolBase = base
	return out
}

// errorRows fills stats_mysql_errors; first_seen and last_seen are Unix
// seconds, as in ProxySQL.
func errorRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.Errors))
	for _, e := range s.Errors {
		host, port := splitAddr(e.Addr)
		out = append(out, row{int64(e.Hostgroup), host, port, e.User, e.Client, e.Schema, int64(e.Errno),
			int64(e.Count), e.FirstSeen.Unix(), e.LastSeen.Unix(), e.LastError})
	}
	return out
}
