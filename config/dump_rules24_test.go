package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The keys of issue 24 survive SAVE CONFIG TO FILE / rwproxy config dump
// and Load unchanged.
func TestMarshalYAMLRulesAndFirewall(t *testing.T) {
	c, err := Load("../configs/rwproxy.yaml")
	require.NoError(t, err)
	global := "GLOBAL"
	c.QueryRules = append(c.QueryRules, QueryRule{RuleID: 7, Active: true, FlagIN: 2, FlagOUT: ptr(3),
		NegateMatchPattern: false, ReModifiers: &global, Digest: "0x0123456789ABCDEF", ClientAddr: "10.0.0.0/8",
		ProxyAddr: "127.0.0.1", ProxyPort: 6033, MatchPattern: `FROM (\w+)_old`, ReplacePattern: `FROM \1_new`,
		Multiplex: ptr(0), StickyConn: true, Log: true, OKMsg: "ok: yes", Retries: ptr(0), Delay: 25 * time.Millisecond,
		MirrorHostgroup: ptr(20), MirrorFlagOUT: ptr(9)})
	c.Firewall = Firewall{Users: []FirewallUser{{Username: "app", Mode: FirewallLearn, LearnPeriod: time.Hour}},
		Allow: []FirewallAllow{{Username: "app", Digest: "0x0123456789ABCDEF", Comment: "listed"}}}
	require.NoError(t, c.Validate())
	out, err := MarshalYAML(c)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "dump.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	back, err := Load(path)
	require.NoError(t, err, "%s", out)
	require.Equal(t, c, back)
}
