package admin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// The query cache columns of mysql_query_rules load into the rules, in
// milliseconds, NULL meaning not set, and the CHECKs refuse bad values.
func TestRuleCacheColumns(t *testing.T) {
	cfg := testConfig()
	f := false
	cfg.QueryRules = append(cfg.QueryRules, config.QueryRule{RuleID: 3, Active: true, MatchDigest: "^SELECT",
		CacheTTL: 5 * time.Second, CacheEmptyResult: &f, CacheTimeout: 200 * time.Millisecond})
	require.NoError(t, cfg.Validate())
	e, rt := newTestEngine(t, cfg)
	require.Equal(t, []any{"5000", "0", "200"},
		exec(t, e, "SELECT cache_ttl, cache_empty_result, cache_timeout FROM mysql_query_rules WHERE rule_id=3").Rows[0])
	require.Equal(t, []any{nil, nil, nil},
		exec(t, e, "SELECT cache_ttl, cache_empty_result, cache_timeout FROM mysql_query_rules WHERE rule_id=1").Rows[0])

	exec(t, e, "UPDATE mysql_query_rules SET cache_ttl=1500, cache_empty_result=NULL, cache_timeout=NULL WHERE rule_id=3")
	exec(t, e, "UPDATE mysql_query_rules SET cache_ttl=250, cache_empty_result=1 WHERE rule_id=1")
	exec(t, e, "LOAD MYSQL QUERY RULES TO RUNTIME")
	rules := rt.Config().QueryRules
	require.Len(t, rules, 2)
	require.Equal(t, 250*time.Millisecond, rules[0].CacheTTL)
	require.True(t, *rules[0].CacheEmptyResult)
	require.Equal(t, 1500*time.Millisecond, rules[1].CacheTTL)
	require.Nil(t, rules[1].CacheEmptyResult)
	require.True(t, rules[1].CachesEmpty())
	require.Zero(t, rules[1].CacheTimeout)

	execErr(t, e, "UPDATE mysql_query_rules SET cache_ttl=-1 WHERE rule_id=3", 3819)
	execErr(t, e, "UPDATE mysql_query_rules SET cache_empty_result=2 WHERE rule_id=3", 3819)
	// Validation: a cache_timeout without cache_ttl waits for nothing.
	exec(t, e, "UPDATE mysql_query_rules SET cache_ttl=NULL, cache_timeout=100 WHERE rule_id=3")
	require.Contains(t, execErr(t, e, "LOAD MYSQL QUERY RULES TO RUNTIME", 0x451), "cache_timeout")
	require.Equal(t, 1500*time.Millisecond, rt.Config().QueryRules[1].CacheTTL, "the running rules are unchanged")
}

func TestQueryCacheSizeVariable(t *testing.T) {
	e, rt := newTestEngine(t, testConfig())
	require.Equal(t, "64", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-query_cache_size_MB'"))
	exec(t, e, "UPDATE global_variables SET variable_value='128' WHERE variable_name='mysql-query_cache_size_MB'")
	exec(t, e, "LOAD MYSQL VARIABLES TO RUNTIME")
	require.Equal(t, 128, rt.Config().QueryCacheSizeMB)
	exec(t, e, "UPDATE global_variables SET variable_value='-1' WHERE variable_name='mysql-query_cache_size_MB'")
	require.Contains(t, execErr(t, e, "LOAD MYSQL VARIABLES TO RUNTIME", 0x451), "mysql-query_cache_size_MB")
	require.Equal(t, 128, rt.Config().QueryCacheSizeMB)
}

func TestStatsQueryCacheTable(t *testing.T) {
	e, rt := newTestEngine(t, testConfig())
	rt.stats.QueryCache = []Counter{{Name: "Query_Cache_count_GET_OK", Value: 7}, {Name: "Query_Cache_Entries", Value: 2}}
	require.Equal(t, "7", one(t, e, "SELECT Variable_Value FROM stats.stats_mysql_query_cache WHERE Variable_Name='Query_Cache_count_GET_OK'"))
}

// A disk file written before the query cache existed (no cache columns,
// no mysql-query_cache_size_MB row) keeps loading: the rules get no cache,
// the size its default.
func TestQueryCacheDiskUpgrade(t *testing.T) {
	dir := t.TempDir()
	yaml := testConfig()
	olderDiskFile(t, dir, yaml,
		"ALTER TABLE mysql_query_rules DROP COLUMN cache_ttl",
		"ALTER TABLE mysql_query_rules DROP COLUMN cache_empty_result",
		"ALTER TABLE mysql_query_rules DROP COLUMN cache_timeout",
		"DELETE FROM global_variables WHERE variable_name = 'mysql-query_cache_size_MB'",
	)

	got, err := Bootstrap(dir, yaml, false)
	require.NoError(t, err, "an older disk file is upgraded, not refused")
	require.Len(t, got.QueryRules, len(yaml.QueryRules))
	require.Zero(t, got.QueryRules[0].CacheTTL)
	require.Nil(t, got.QueryRules[0].CacheEmptyResult)
	require.Equal(t, config.DefaultQueryCacheSizeMB, got.QueryCacheSizeMB)
}
