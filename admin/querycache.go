package admin

import (
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// ruleCacheCols are a rule's query cache columns (cache_ttl,
// cache_empty_result, cache_timeout): milliseconds, NULL when not set.
func ruleCacheCols(q config.QueryRule) row {
	var ttl, empty, timeout any
	if q.CacheTTL != 0 {
		ttl = q.CacheTTL.Milliseconds()
	}
	if q.CacheEmptyResult != nil {
		empty = boolInt(*q.CacheEmptyResult)
	}
	if q.CacheTimeout != 0 {
		timeout = q.CacheTimeout.Milliseconds()
	}
	return row{ttl, empty, timeout}
}

// setRuleCache sets q's query cache fields from the columns of
// ruleCacheCols.
func setRuleCache(q *config.QueryRule, cols row) {
	q.CacheTTL = time.Duration(asInt(cols[0])) * time.Millisecond
	if cols[1] != nil {
		b := asInt(cols[1]) == 1
		q.CacheEmptyResult = &b
	}
	q.CacheTimeout = time.Duration(asInt(cols[2])) * time.Millisecond
}
