package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// Rules without query cache keys encode as before the keys existed (a node
// of the previous version decodes them strictly); a rule with them carries
// them, and they install back unchanged.
func TestQueryRulesCacheKeysInModule(t *testing.T) {
	c := testConfig(t)
	c.QueryRules = []config.QueryRule{{RuleID: 1, Active: true, MatchDigest: "^SELECT"}}
	payload := string(encodeModules(c)[ModuleQueryRules].payload)
	require.NotContains(t, payload, "Cache")

	f := false
	c.QueryRules[0].CacheTTL, c.QueryRules[0].CacheEmptyResult, c.QueryRules[0].CacheTimeout = time.Second, &f, time.Millisecond
	enc := encodeModules(c)[ModuleQueryRules]
	require.True(t, strings.Contains(string(enc.payload), `"CacheTTL":1000000000`), string(enc.payload))
	got := testConfig(t)
	require.NoError(t, install(got, ModuleQueryRules, enc.payload))
	require.Equal(t, c.QueryRules, got.QueryRules)
	require.Equal(t, enc.checksum, encodeModules(got)[ModuleQueryRules].checksum)
}
