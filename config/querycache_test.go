package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateQueryCacheKeys(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want string // "" = valid
	}{
		{"rule caches", func(c *Config) {
			c.QueryRules[0].CacheTTL, c.QueryRules[0].CacheTimeout = time.Second, 50*time.Millisecond
		}, ""},
		{"negative ttl", func(c *Config) { c.QueryRules[0].CacheTTL = -time.Second }, "query_rules[0].cache_ttl"},
		{"sub-millisecond ttl", func(c *Config) { c.QueryRules[0].CacheTTL = 1500 * time.Microsecond }, "query_rules[0].cache_ttl"},
		{"timeout without ttl", func(c *Config) { c.QueryRules[0].CacheTimeout = time.Second }, "query_rules[0].cache_timeout"},
		{"ttl on an error rule", func(c *Config) { c.QueryRules[0].CacheTTL, c.QueryRules[0].ErrorMsg = time.Second, "no" }, "query_rules[0].cache_ttl"},
		{"size 0 keeps nothing", func(c *Config) { c.QueryCacheSizeMB = 0 }, ""},
		{"negative size", func(c *Config) { c.QueryCacheSizeMB = -1 }, "query_cache_size_mb"},
		{"huge size", func(c *Config) { c.QueryCacheSizeMB = MaxQueryCacheSizeMB + 1 }, "query_cache_size_mb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			c.QueryRules = []QueryRule{{RuleID: 1, Active: true, MatchDigest: "^SELECT"}}
			tc.edit(c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.Equal(t, DefaultQueryCacheSizeMB, Defaults().QueryCacheSizeMB)
	f := false
	r := QueryRule{CacheEmptyResult: &f}
	require.False(t, r.CachesEmpty())
	require.True(t, QueryRule{}.CachesEmpty())
	c := Defaults()
	c.QueryRules = []QueryRule{r}
	require.NotSame(t, c.QueryRules[0].CacheEmptyResult, c.Clone().QueryRules[0].CacheEmptyResult)
}
