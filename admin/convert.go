package admin

import (
	"fmt"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// converter turns one configuration table into rows and back. rows lists
// the table's content for c in configuration order; set replaces c's
// fields with rows (already checked by the table's constraints).
type converter struct {
	rows func(c *config.Config) []row
	set  func(c *config.Config, rows []row) error
	// cfgKey is the configuration list the table stands for ("servers"),
	// fields maps its keys to column names where they differ.
	cfgKey string
	fields map[string]string
}

// converters by table name.
var converters = map[*table]converter{
	tFirewallUsers: firewallUsersConv,
	tFirewallAllow: firewallAllowConv,
	tServers: {
		cfgKey: "servers", fields: map[string]string{"hostgroup": "hostgroup_id", "host": "hostname"},
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.Servers))
			for _, s := range c.Servers {
				out = append(out, row{int64(s.Hostgroup), s.Host, int64(s.Port), s.Status, int64(s.Weight),
					int64(s.MaxConnections), int64(s.MaxReplicationLag), s.Comment, boolInt(s.UseTLS),
					boolInt(s.UseTLS), int64(s.GTIDPort), int64(0), s.MaxLatency.Milliseconds()})
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.Servers = c.Servers[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				status := strings.ToUpper(asString(r[3]))
				if status == statusShunned {
					// ProxySQL loads a SHUNNED server as ONLINE: shunning
					// is the monitor's decision, not configuration.
					status = config.StatusOnline
				}
				c.Servers = append(c.Servers, config.Server{Hostgroup: asInt(r[0]), Host: asString(r[1]),
					Port: asInt(r[2]), Status: status, Weight: asInt(r[4]),
					MaxConnections: asInt(r[5]), MaxReplicationLag: asInt(r[6]), Comment: asString(r[7]),
					UseTLS: asInt(r[8]) == 1 || asInt(r[9]) == 1, GTIDPort: asInt(r[10]),
					MaxLatency: time.Duration(asInt(r[12])) * time.Millisecond})
			}
			return nil
		},
	},
	tUsers: {
		cfgKey: "users", fields: map[string]string{"read_your_writes_timeout": "read_your_writes_timeout_ms",
			"query_timeout": "query_timeout_ms"},
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.Users))
			for _, u := range c.Users {
				out = append(out, userRow(u))
			}
			return out
		},
		set: setUsers,
	},
	tRules: {
		cfgKey: "query_rules", fields: ruleExtraFields,
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.QueryRules))
			for _, q := range c.QueryRules {
				var dest, timeout any
				if q.DestinationHostgroup != nil {
					dest = int64(*q.DestinationHostgroup)
				}
				if q.Timeout != 0 {
					timeout = q.Timeout.Milliseconds()
				}
				r := row{int64(q.RuleID), boolInt(q.Active), nullString(q.Username), nullString(q.Schemaname),
					nullString(q.MatchDigest), nullString(q.MatchPattern), dest, boolInt(q.Apply),
					nullString(q.ErrorMsg), nullString(q.Comment), timeout, boolInt(q.Idempotent)}
				out = append(out, append(append(r, ruleCacheCols(q)...), ruleExtrasRow(q)...))
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.QueryRules = c.QueryRules[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				q := config.QueryRule{RuleID: asInt(r[0]), Active: asInt(r[1]) == 1, Username: asString(r[2]),
					Schemaname: asString(r[3]), MatchDigest: asString(r[4]), MatchPattern: asString(r[5]),
					Apply: asInt(r[7]) == 1, ErrorMsg: asString(r[8]), Comment: asString(r[9]),
					Timeout: time.Duration(asInt(r[10])) * time.Millisecond, Idempotent: asInt(r[11]) == 1}
				if r[6] != nil {
					d := asInt(r[6])
					q.DestinationHostgroup = &d
				}
				setRuleCache(&q, r[12:15])
				setRuleExtras(&q, r[15:])
				c.QueryRules = append(c.QueryRules, q)
			}
			return nil
		},
	},
	tReplication: {
		cfgKey: "replication_hostgroups",
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.ReplicationHostgroups))
			for _, h := range c.ReplicationHostgroups {
				out = append(out, row{int64(h.WriterHostgroup), int64(h.ReaderHostgroup), h.CheckType, h.Comment})
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.ReplicationHostgroups = c.ReplicationHostgroups[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				c.ReplicationHostgroups = append(c.ReplicationHostgroups, config.ReplicationHostgroup{
					WriterHostgroup: asInt(r[0]), ReaderHostgroup: asInt(r[1]), CheckType: asString(r[2]), Comment: asString(r[3])})
			}
			return nil
		},
	},
	tGroupReplication: {
		cfgKey: "group_replication_hostgroups",
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.GroupReplicationHostgroups))
			for _, g := range c.GroupReplicationHostgroups {
				out = append(out, row{int64(g.WriterHostgroup), int64(g.BackupWriterHostgroup), int64(g.ReaderHostgroup),
					int64(g.OfflineHostgroup), boolInt(g.IsActive()), int64(g.MaxWriters), int64(g.WriterIsAlsoReader),
					int64(g.MaxTransactionsBehind), g.Comment})
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.GroupReplicationHostgroups = c.GroupReplicationHostgroups[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				c.GroupReplicationHostgroups = append(c.GroupReplicationHostgroups, config.GroupReplicationHostgroup{
					WriterHostgroup: asInt(r[0]), BackupWriterHostgroup: asInt(r[1]), ReaderHostgroup: asInt(r[2]),
					OfflineHostgroup: asInt(r[3]), Active: activePtr(r[4]), MaxWriters: asInt(r[5]),
					WriterIsAlsoReader: asInt(r[6]), MaxTransactionsBehind: asInt(r[7]), Comment: asString(r[8])})
			}
			return nil
		},
	},
	tAttributes: {
		cfgKey: "hostgroup_attributes",
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.HostgroupAttributes))
			for _, a := range c.HostgroupAttributes {
				out = append(out, row{int64(a.HostgroupID), a.Balance, a.Affinity})
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.HostgroupAttributes = c.HostgroupAttributes[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				c.HostgroupAttributes = append(c.HostgroupAttributes, config.HostgroupAttributes{
					HostgroupID: asInt(r[0]), Balance: asString(r[1]), Affinity: asString(r[2])})
			}
			return nil
		},
	},
	tScheduler: {
		cfgKey: "scheduler", fields: map[string]string{"interval": "interval_ms"},
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.Scheduler))
			for _, j := range c.Scheduler {
				r := row{int64(j.ID), boolInt(j.IsActive()), j.Interval.Milliseconds(), j.Filename}
				for i := range config.MaxSchedulerArgs {
					var a any
					if i < len(j.Args) {
						a = j.Args[i]
					}
					r = append(r, a)
				}
				out = append(out, append(r, j.Comment))
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.Scheduler = c.Scheduler[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				j := config.SchedulerJob{ID: asInt(r[0]), Active: activePtr(r[1]),
					Interval: time.Duration(asInt(r[2])) * time.Millisecond, Filename: asString(r[3]),
					Comment: asString(r[4+config.MaxSchedulerArgs])}
				// ProxySQL passes arg1..argN up to the last non-NULL one.
				last := -1
				for i := range config.MaxSchedulerArgs {
					if r[4+i] != nil {
						last = i
					}
				}
				for i := 0; i <= last; i++ {
					j.Args = append(j.Args, asString(r[4+i]))
				}
				c.Scheduler = append(c.Scheduler, j)
			}
			return nil
		},
	},
	tVariables: {
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(variables))
			for _, v := range variables {
				out = append(out, row{v.name, v.get(c)})
			}
			return out
		},
		// set applies the rows given; variables without a row keep their
		// value in c.
		set: func(c *config.Config, rows []row) error {
			for _, r := range rows {
				name, val := asString(r[0]), asString(r[1])
				v, ok := lookupVariable(name)
				if !ok {
					return fmt.Errorf("global_variables: unknown variable %q", name)
				}
				if err := v.set(c, val); err != nil {
					return fmt.Errorf("global_variables: %s: %w", v.name, err)
				}
			}
			return nil
		},
	},
}

func asInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case float64:
		return int(x)
	case string:
		var n int
		_, _ = fmt.Sscan(x, &n)
		return n
	}
	return 0
}

func asString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// activePtr maps active=1 to nil (the default) and 0 to false.
func activePtr(v any) *bool {
	if asInt(v) == 1 {
		return nil
	}
	f := false
	return &f
}

// nullString maps "" to NULL, as ProxySQL shows unset rule columns.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
