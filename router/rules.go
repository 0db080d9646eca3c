package router

import (
	"fmt"
	"regexp"
	"sort"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// Rules are the active query rules of one configuration, compiled once and
// evaluated in rule_id order, as ProxySQL's mysql_query_rules.
// A *Rules is immutable and safe for concurrent use.
type Rules struct {
	list       []rule
	useDigest  bool
	usePattern bool
	useTimeout bool
	useCache   bool
}

type rule struct {
	id       int
	username string
	schema   string
	digest   *regexp.Regexp
	pattern  *regexp.Regexp
	dest     int
	hasDest  bool
	apply    bool
	errMsg   string
	timeout  time.Duration
	idem     bool
	// hits counts the statements the rule matched (stats_mysql_query_rules).
	hits *atomic.Uint64
	// cache: the rule's query cache settings (TTL 0: none).
	cache CacheSpec
}

// RuleMatch is the outcome of evaluating the rules for one statement.
type RuleMatch struct {
	// RuleID is the last rule that matched (0 = none).
	RuleID int
	// Hostgroup is the destination when HasHostgroup.
	Hostgroup    int
	HasHostgroup bool
	// ErrorMsg, when set, is returned to the client instead of running the
	// statement.
	ErrorMsg string
	// Timeout is the statement timeout set by the matching rules (0 =
	// none set); like the destination, a later match overrides it.
	Timeout time.Duration
	// Idempotent: a matching rule marks the statement safe to run twice
	// (query_rules[].idempotent).
	Idempotent bool
	// Cache is the query cache setting of the last matching rule that
	// sets a cache_ttl (TTL 0: not cached).
	Cache CacheSpec
}

// CacheSpec is a rule's query cache settings (cache_ttl,
// cache_empty_result, cache_timeout).
type CacheSpec struct {
	TTL     time.Duration
	Empty   bool
	Timeout time.Duration
}

// CompileRules compiles the active rules; an invalid regexp is an error.
func CompileRules(qrs []config.QueryRule) (*Rules, error) {
	r := &Rules{}
	for _, q := range qrs {
		if !q.Active {
			continue
		}
		cr := rule{id: q.RuleID, username: q.Username, schema: q.Schemaname, apply: q.Apply, errMsg: q.ErrorMsg,
			timeout: q.Timeout, idem: q.Idempotent, hits: new(atomic.Uint64)}
		r.useTimeout = r.useTimeout || q.Timeout > 0
		if q.CacheTTL > 0 {
			cr.cache = CacheSpec{TTL: q.CacheTTL, Empty: q.CachesEmpty(), Timeout: q.CacheTimeout}
			r.useCache = true
		}
		if q.DestinationHostgroup != nil {
			cr.dest, cr.hasDest = *q.DestinationHostgroup, true
		}
		var err error
		if q.MatchDigest != "" {
			if cr.digest, err = regexp.Compile("(?i)" + q.MatchDigest); err != nil {
				return nil, fmt.Errorf("query rule %d: match_digest: %w", q.RuleID, err)
			}
			r.useDigest = true
		}
		if q.MatchPattern != "" {
			if cr.pattern, err = regexp.Compile("(?i)" + q.MatchPattern); err != nil {
				return nil, fmt.Errorf("query rule %d: match_pattern: %w", q.RuleID, err)
			}
			r.usePattern = true
		}
		r.list = append(r.list, cr)
	}
	sort.Slice(r.list, func(i, j int) bool { return r.list[i].id < r.list[j].id })
	return r, nil
}

// Empty reports whether there is no active rule (the common case, which
// then costs nothing per statement).
func (r *Rules) Empty() bool { return r == nil || len(r.list) == 0 }

// NeedsDigest reports whether some rule matches on the digest.
func (r *Rules) NeedsDigest() bool { return r != nil && r.useDigest }

// HasTimeouts reports whether some rule sets a statement timeout: the
// rules then matter even where their destination does not (a pinned
// session).
func (r *Rules) HasTimeouts() bool { return r != nil && r.useTimeout }

// HasCache reports whether some rule sets a cache_ttl: the query cache is
// in use.
func (r *Rules) HasCache() bool { return r != nil && r.useCache }

// Match evaluates the rules. Later matching rules override the destination
// of earlier ones until a rule with apply=1 matches.
func (r *Rules) Match(user, schema, digest, query string) RuleMatch {
	var m RuleMatch
	if r.Empty() {
		return m
	}
	for i := range r.list {
		cr := &r.list[i]
		if (cr.username != "" && cr.username != user) || (cr.schema != "" && cr.schema != schema) ||
			(cr.digest != nil && !cr.digest.MatchString(digest)) || (cr.pattern != nil && !cr.pattern.MatchString(query)) {
			continue
		}
		m.RuleID = cr.id
		cr.hits.Add(1)
		if cr.hasDest {
			m.Hostgroup, m.HasHostgroup = cr.dest, true
		}
		if cr.timeout > 0 {
			m.Timeout = cr.timeout
		}
		m.Idempotent = m.Idempotent || cr.idem
		if cr.cache.TTL > 0 {
			m.Cache = cr.cache
		}
		if cr.errMsg != "" {
			m.ErrorMsg = cr.errMsg
			return m
		}
		if cr.apply {
			return m
		}
	}
	return m
}

// RuleHits is how many statements one rule matched.
type RuleHits struct {
	RuleID int
	Hits   uint64
}

// Hits returns every active rule's hits, in rule_id order.
func (r *Rules) Hits() []RuleHits {
	if r == nil {
		return nil
	}
	out := make([]RuleHits, 0, len(r.list))
	for i := range r.list {
		out = append(out, RuleHits{RuleID: r.list[i].id, Hits: r.list[i].hits.Load()})
	}
	return out
}

// KeepHits carries the hit counts of old's rules over to r's rules of the
// same rule_id, so that reloading the configuration does not reset them.
// Call it before r is in use.
func (r *Rules) KeepHits(old *Rules) {
	if r == nil || old == nil {
		return
	}
	prev := make(map[int]uint64, len(old.list))
	for i := range old.list {
		prev[old.list[i].id] = old.list[i].hits.Load()
	}
	for i := range r.list {
		r.list[i].hits.Store(prev[r.list[i].id])
	}
}
