package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

func TestRuleCacheSpec(t *testing.T) {
	f := false
	rules, err := CompileRules([]config.QueryRule{
		{RuleID: 1, Active: true, MatchDigest: "^SELECT", CacheTTL: time.Second, CacheTimeout: 50 * time.Millisecond},
		{RuleID: 2, Active: true, MatchPattern: "FROM countries", CacheTTL: time.Minute, CacheEmptyResult: &f},
		{RuleID: 3, Active: true, MatchPattern: "FROM orders"},
	})
	require.NoError(t, err)
	require.True(t, rules.HasCache())
	require.Equal(t, CacheSpec{TTL: time.Second, Empty: true, Timeout: 50 * time.Millisecond},
		rules.Match("u", "d", "SELECT * FROM users", "SELECT * FROM users").Cache)
	require.Equal(t, CacheSpec{TTL: time.Minute}, rules.Match("u", "d", "SELECT * FROM countries", "SELECT * FROM countries").Cache,
		"a later matching rule's cache_ttl wins, with its own settings")
	require.Equal(t, CacheSpec{TTL: time.Second, Empty: true, Timeout: 50 * time.Millisecond},
		rules.Match("u", "d", "SELECT * FROM orders", "SELECT * FROM orders").Cache, "a rule without cache_ttl keeps it")
	require.Zero(t, rules.Match("u", "d", "UPDATE t", "UPDATE t").Cache)
	none, err := CompileRules([]config.QueryRule{{RuleID: 1, Active: true, MatchDigest: "x"}})
	require.NoError(t, err)
	require.False(t, none.HasCache())
}
