package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestValidateRuleExtras: each key of issue 24 is checked, with the path
// and the reason in the error.
func TestValidateRuleExtras(t *testing.T) {
	n := func(v int) *int { return &v }
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name string
		rule QueryRule
		want string
	}{
		{"negative flag_in", QueryRule{FlagIN: -1}, "query_rules[0].flag_in"},
		{"negative flag_out", QueryRule{FlagOUT: n(-2)}, "query_rules[0].flag_out"},
		{"unknown modifier", QueryRule{ReModifiers: s("CASELESS,MULTILINE")}, "query_rules[0].re_modifiers"},
		{"bad digest", QueryRule{Digest: "abc"}, "query_rules[0].digest"},
		{"bad client_addr", QueryRule{ClientAddr: "10.0.0.0/40"}, "query_rules[0].client_addr"},
		{"bad proxy_addr", QueryRule{ProxyAddr: "localhost"}, "query_rules[0].proxy_addr"},
		{"bad proxy_port", QueryRule{ProxyPort: 70000}, "query_rules[0].proxy_port"},
		{"replace without pattern", QueryRule{ReplacePattern: "x"}, "query_rules[0].replace_pattern"},
		{"multiplex 3", QueryRule{Multiplex: n(3)}, "query_rules[0].multiplex"},
		{"retries 1001", QueryRule{Retries: n(1001)}, "query_rules[0].retries"},
		{"delay in µs", QueryRule{Delay: time.Microsecond}, "query_rules[0].delay"},
		{"unknown mirror hostgroup", QueryRule{MirrorHostgroup: n(77)}, "query_rules[0].mirror_hostgroup"},
		{"ok_msg with error_msg", QueryRule{ErrorMsg: "no", OKMsg: "yes"}, "query_rules[0].ok_msg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.rule.RuleID = 1
			c.QueryRules = []QueryRule{tc.rule}
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	c := validConfig(t)
	c.QueryRules = []QueryRule{{RuleID: 1, Active: true, FlagOUT: n(2), ReModifiers: s("caseless, global"),
		Digest: "0x0123456789ABCDEF", ClientAddr: "10.1.%", ProxyAddr: "::1", ProxyPort: 6033, MatchPattern: "(a)",
		ReplacePattern: `\1`, Multiplex: n(0), Retries: n(0), Delay: time.Second, OKMsg: "ok"}}
	require.NoError(t, c.Validate())
}

// TestValidateFirewall: modes, duplicates and digests.
func TestValidateFirewall(t *testing.T) {
	c := validConfig(t)
	c.Firewall = Firewall{Users: []FirewallUser{{Username: "app", Mode: "learn", LearnPeriod: time.Minute},
		{Username: "app", Mode: "enforce"}, {Username: "x", Mode: "block"}},
		Allow: []FirewallAllow{{Username: "app", Digest: "0xZZ"}}}
	err := c.Validate()
	require.Error(t, err)
	for _, want := range []string{"firewall.users[1].username", "firewall.users[2].mode", "firewall.allow[0].digest"} {
		require.Contains(t, err.Error(), want)
	}
	c.Firewall = Firewall{Users: []FirewallUser{{Username: "app", Mode: "enforce"}},
		Allow: []FirewallAllow{{Username: "app", Digest: "0x0123456789abcdef"}}}
	require.NoError(t, c.Validate())
}
