package admin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// A disk file saved before the rule columns of issue 24 and the firewall
// tables existed still loads: the rules keep their values and take the
// defaults (chain 0, CASELESS), and the firewall is empty.
func TestBootstrapUpgradesRulesWithoutChains(t *testing.T) {
	dir := t.TempDir()
	yaml := testConfig()
	stmts := []string{"UPDATE mysql_query_rules SET comment = 'kept'", "DROP TABLE mysql_firewall_users", "DROP TABLE mysql_firewall_allow"}
	for _, c := range []string{"flagIN", "flagOUT", "negate_match_pattern", "re_modifiers", "digest", "client_addr",
		"proxy_addr", "proxy_port", "replace_pattern", "multiplex", "sticky_conn", "log", "OK_msg", "retries", "delay",
		"mirror_hostgroup", "mirror_flagOUT"} {
		stmts = append(stmts, "ALTER TABLE mysql_query_rules DROP COLUMN "+c)
	}
	olderDiskFile(t, dir, yaml, stmts...)

	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err, "an older disk file is upgraded, not refused")
	require.Len(t, got.QueryRules, len(yaml.QueryRules))
	r := got.QueryRules[0]
	require.Equal(t, "kept", r.Comment)
	require.Zero(t, r.FlagIN)
	require.Nil(t, r.FlagOUT)
	require.Nil(t, r.ReModifiers, "CASELESS, the default")
	require.Empty(t, got.Firewall.Users)
}

// The firewall's tables load to the running configuration and back, and
// refuse what the configuration would refuse.
func TestFirewallTables(t *testing.T) {
	cfg := testConfig()
	require.NoError(t, cfg.Validate())
	e, rt := newTestEngine(t, cfg)
	exec(t, e, "INSERT INTO mysql_firewall_users (username, mode, learn_period_ms) VALUES ('app', 'learn', 60000)")
	exec(t, e, "INSERT INTO mysql_firewall_allow (username, digest) VALUES ('app', '0x0123456789ABCDEF')")
	execErr(t, e, "INSERT INTO mysql_firewall_users (username, mode) VALUES ('x', 'block')", 3819)
	execErr(t, e, "INSERT INTO mysql_firewall_allow (username, digest) VALUES ('app', '0xZZ23456789ABCDEF')", 3819)
	exec(t, e, "LOAD MYSQL FIREWALL TO RUNTIME")
	require.Equal(t, config.Firewall{
		Users: []config.FirewallUser{{Username: "app", Mode: config.FirewallLearn, LearnPeriod: time.Minute}},
		Allow: []config.FirewallAllow{{Username: "app", Digest: "0x0123456789ABCDEF"}}}, rt.Config().Firewall)
	require.Equal(t, "learn", one(t, e, "SELECT mode FROM runtime_mysql_firewall_users"))
}
