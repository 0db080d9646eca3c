package admin

import (
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// The firewall's tables (config.Firewall): module MYSQL FIREWALL, after
// ProxySQL's mysql_firewall_whitelist_users and _rules, made learnable.
var (
	tFirewallUsers = &table{
		name: "mysql_firewall_users", strict: true,
		cols: []column{
			{name: "username", typ: "TEXT", notNull: true, check: "username <> ''"},
			{name: "mode", typ: "TEXT", notNull: true, def: "'off'",
				check: "mode IN ('off','learn','detect','enforce')"},
			{name: "learn_period_ms", typ: "INTEGER", notNull: true, def: "0", check: "learn_period_ms >= 0"},
			{name: "comment", typ: "TEXT", notNull: true, def: "''"},
		},
		constraints: []string{"PRIMARY KEY (username)"},
		key:         []string{"username"},
	}
	tFirewallAllow = &table{
		name: "mysql_firewall_allow", strict: true,
		cols: []column{
			{name: "username", typ: "TEXT", notNull: true, check: "username <> ''"},
			{name: "digest", typ: "TEXT", notNull: true,
				check: "length(digest) = 18 AND lower(substr(digest, 1, 2)) = '0x' AND NOT substr(digest, 3) GLOB '*[^0-9A-Fa-f]*'"},
			{name: "comment", typ: "TEXT", notNull: true, def: "''"},
		},
		constraints: []string{"PRIMARY KEY (username, digest)"},
		key:         []string{"username", "digest"},
	}
	// tFirewallUserStats and tFirewallDigests are the firewall's state.
	tFirewallUserStats = &table{name: "stats_mysql_firewall_users", cols: []column{
		{name: "username", typ: "TEXT"}, {name: "mode", typ: "TEXT"}, {name: "learning", typ: "INTEGER"},
		{name: "learned_digests", typ: "INTEGER"}, {name: "blocked", typ: "INTEGER"},
		{name: "detected", typ: "INTEGER"}, {name: "not_learned", typ: "INTEGER"},
	}}
	tFirewallDigests = &table{name: "stats_mysql_firewall_digests", cols: []column{
		{name: "username", typ: "TEXT"}, {name: "digest", typ: "TEXT"}, {name: "source", typ: "TEXT"},
		{name: "digest_text", typ: "TEXT"},
	}}
)

// firewallUsersConv and firewallAllowConv convert the firewall's tables.
var (
	firewallUsersConv = converter{
		cfgKey: "firewall.users", fields: map[string]string{"learn_period": "learn_period_ms"},
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.Firewall.Users))
			for _, u := range c.Firewall.Users {
				out = append(out, row{u.Username, u.Mode, u.LearnPeriod.Milliseconds(), u.Comment})
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.Firewall.Users = c.Firewall.Users[:0] // keeps nil nil (Store.Apply compares with DeepEqual)
			for _, r := range rows {
				c.Firewall.Users = append(c.Firewall.Users, config.FirewallUser{Username: asString(r[0]),
					Mode: asString(r[1]), LearnPeriod: time.Duration(asInt(r[2])) * time.Millisecond, Comment: asString(r[3])})
			}
			return nil
		},
	}
	firewallAllowConv = converter{
		cfgKey: "firewall.allow",
		rows: func(c *config.Config) []row {
			out := make([]row, 0, len(c.Firewall.Allow))
			for _, a := range c.Firewall.Allow {
				out = append(out, row{a.Username, a.Digest, a.Comment})
			}
			return out
		},
		set: func(c *config.Config, rows []row) error {
			c.Firewall.Allow = c.Firewall.Allow[:0]
			for _, r := range rows {
				c.Firewall.Allow = append(c.Firewall.Allow, config.FirewallAllow{Username: asString(r[0]),
					Digest: asString(r[1]), Comment: asString(r[2])})
			}
			return nil
		},
	}
)

// FirewallUserStat is one row of stats_mysql_firewall_users.
type FirewallUserStat struct {
	User, Mode                  string
	Learning                    bool
	Learned                     int
	Blocked, Detected, Overflow uint64
}

// FirewallDigest is one row of stats_mysql_firewall_digests.
type FirewallDigest struct {
	User, Digest, DigestText string
	Learned                  bool
}

func firewallUserRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.FirewallUsers))
	for _, u := range s.FirewallUsers {
		out = append(out, row{u.User, u.Mode, boolInt(u.Learning), int64(u.Learned), int64(u.Blocked),
			int64(u.Detected), int64(u.Overflow)})
	}
	return out
}

func firewallDigestRows(s *Stats, _ *config.Config) []row {
	out := make([]row, 0, len(s.FirewallDigests))
	for _, d := range s.FirewallDigests {
		src, text := "listed", any(nil)
		if d.Learned {
			src, text = "learned", d.DigestText
		}
		out = append(out, row{d.User, d.Digest, src, text})
	}
	return out
}
