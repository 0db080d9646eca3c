package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// The keys of issue 24 are shared: the rules' with the query_rules module,
// the firewall with the variables module. Unset, they are absent from the
// payloads, which then encode as they did before them (peers of the
// previous version, which decode strictly, keep accepting the modules).
func TestRulesAndFirewallShared(t *testing.T) {
	base := testConfig(t)
	plain := encodeModules(base)
	for _, m := range []string{ModuleQueryRules, ModuleVariables} {
		for _, key := range []string{"FlagIN", "ReplacePattern", "MirrorHostgroup", "Firewall"} {
			require.NotContains(t, string(plain[m].payload), key, "module %s", m)
		}
	}

	c := base.Clone()
	out, hg := 7, 20
	c.QueryRules = append(c.QueryRules, config.QueryRule{RuleID: 99, Active: true, FlagIN: 3, FlagOUT: &out,
		MatchPattern: "(a)", ReplacePattern: `\1`, MirrorHostgroup: &hg, Delay: time.Millisecond})
	c.Firewall = config.Firewall{Users: []config.FirewallUser{{Username: "app", Mode: config.FirewallEnforce}},
		Allow: []config.FirewallAllow{{Username: "app", Digest: "0x0123456789ABCDEF"}}}
	enc := encodeModules(c)
	require.NotEqual(t, plain[ModuleQueryRules].checksum, enc[ModuleQueryRules].checksum)
	require.NotEqual(t, plain[ModuleVariables].checksum, enc[ModuleVariables].checksum)
	require.True(t, strings.Contains(string(enc[ModuleVariables].payload), "Firewall"))

	got := base.Clone()
	require.NoError(t, install(got, ModuleQueryRules, enc[ModuleQueryRules].payload))
	require.NoError(t, install(got, ModuleVariables, enc[ModuleVariables].payload))
	require.Equal(t, normalize(c).QueryRules, normalize(got).QueryRules)
	require.Equal(t, c.Firewall, got.Firewall)
}
