package router

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// Rules are the active query rules of one configuration, compiled once and
// evaluated in rule_id order, as ProxySQL's mysql_query_rules (flagIN /
// flagOUT chains, apply, negate_match_pattern, re_modifiers, rewriting).
// A *Rules is immutable and safe for concurrent use.
type Rules struct {
	list       []rule
	useDigest  bool
	usePattern bool
	useTimeout bool
	useHash    bool
	useRewrite bool
	useMirror  bool
	useCache   bool
}

type rule struct {
	id       int
	flagIN   int
	flagOUT  int
	hasOut   bool
	username string
	schema   string
	digest   *regexp.Regexp
	// hash is the digest hash (FNV-64a of the digest text) when hasHash.
	hash    uint64
	hasHash bool
	pattern *regexp.Regexp
	negate  bool
	// digestPre and patternPre rule statements out before the regexps run.
	digestPre, patternPre anchoredPrefix
	// replace is the replace_pattern as a Go template (\1 → ${1});
	// global replaces every match (re_modifiers GLOBAL).
	replace    string
	hasReplace bool
	global     bool
	client     clientMatch
	proxyAddr  netip.Addr
	proxyPort  int
	dest       int
	hasDest    bool
	apply      bool
	errMsg     string
	okMsg      string
	timeout    time.Duration
	idem       bool
	// actions are the per-rule session controls (multiplex, sticky_conn,
	// log, retries, delay, mirror_*), copied into RuleMatch on a match.
	actions RuleActions
	// hits counts the statements the rule matched (stats_mysql_query_rules).
	hits *atomic.Uint64
	// cache: the rule's query cache settings (TTL 0: none).
	cache CacheSpec
}

// clientMatch is a compiled client_addr: an address or subnet (prefix), or
// a textual prefix (ProxySQL's trailing % wildcard).
type clientMatch struct {
	set    bool
	prefix netip.Prefix
	text   string // the part before %, when the rule uses the wildcard
}

func (c *clientMatch) match(addr netip.Addr, text string) bool {
	if !c.set {
		return true
	}
	if c.text != "" {
		return strings.HasPrefix(text, c.text)
	}
	return addr.IsValid() && c.prefix.Contains(addr.Unmap())
}

// RuleActions are what matching rules ask of the session besides a
// destination; the zero value asks nothing. Like the destination, a later
// matching rule overrides what an earlier one set.
type RuleActions struct {
	// NoMultiplex: keep the backend connection for the rest of the
	// session (multiplex=0).
	NoMultiplex bool
	// Sticky: later statements that no rule routes go to the hostgroup
	// this one went to (sticky_conn=1).
	Sticky bool
	// Log: log the statement at Info (log=1).
	Log bool
	// Retries is the number of re-runs of a failed read when HasRetries.
	Retries    int
	HasRetries bool
	// Delay holds the statement before it runs.
	Delay time.Duration
	// MirrorHostgroup receives a copy of the statement when HasMirror;
	// MirrorFlag, when HasMirrorFlag, is the flag the rules are evaluated
	// from once more for the copy.
	MirrorHostgroup int
	HasMirror       bool
	MirrorFlag      int
	HasMirrorFlag   bool
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
	// OKMsg, when set, is returned to the client as an OK packet instead
	// of running the statement (OK_msg).
	OKMsg string
	// Rewritten is the statement after replace_pattern ("" = unchanged).
	Rewritten string
	// Idempotent: a matching rule marks the statement safe to run twice
	// (query_rules[].idempotent).
	Idempotent bool
	RuleActions
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

// RuleInput is what rules match one statement on. ClientText is the
// client's IP address as text (for client_addr wildcards); Flag is the
// flag evaluation starts at (0, or a rule's mirror_flagOUT).
type RuleInput struct {
	User, Schema, Digest, Query string
	Client                      netip.Addr
	ClientText                  string
	ProxyAddr                   netip.Addr
	ProxyPort                   int
	Flag                        int
}

// CompileRules compiles the active rules; an invalid regexp is an error.
func CompileRules(qrs []config.QueryRule) (*Rules, error) {
	r := &Rules{}
	for _, q := range qrs {
		if !q.Active {
			continue
		}
		cr, err := compileRule(q)
		if err != nil {
			return nil, err
		}
		r.useTimeout = r.useTimeout || q.Timeout > 0
		r.useDigest = r.useDigest || cr.digest != nil
		r.usePattern = r.usePattern || cr.pattern != nil
		r.useHash = r.useHash || cr.hasHash
		r.useRewrite = r.useRewrite || cr.hasReplace
		r.useMirror = r.useMirror || cr.actions.HasMirror
		r.useCache = r.useCache || cr.cache.TTL > 0
		r.list = append(r.list, cr)
	}
	sort.Slice(r.list, func(i, j int) bool { return r.list[i].id < r.list[j].id })
	return r, nil
}

// compileRule compiles one active rule.
func compileRule(q config.QueryRule) (rule, error) {
	caseless, global, ok := config.ParseReModifiers(q.ReModifiers)
	if !ok {
		return rule{}, fmt.Errorf("query rule %d: re_modifiers %q: unknown modifier", q.RuleID, *q.ReModifiers)
	}
	flags := ""
	if caseless {
		flags = "(?i)"
	}
	cr := rule{id: q.RuleID, flagIN: q.FlagIN, username: q.Username, schema: q.Schemaname, apply: q.Apply,
		errMsg: q.ErrorMsg, okMsg: q.OKMsg, timeout: q.Timeout, idem: q.Idempotent, negate: q.NegateMatchPattern, global: global,
		proxyPort: q.ProxyPort, hits: new(atomic.Uint64)}
	if q.FlagOUT != nil {
		cr.flagOUT, cr.hasOut = *q.FlagOUT, true
	}
	if q.DestinationHostgroup != nil {
		cr.dest, cr.hasDest = *q.DestinationHostgroup, true
	}
	var err error
	if q.MatchDigest != "" {
		if cr.digest, err = regexp.Compile(flags + q.MatchDigest); err != nil {
			return rule{}, fmt.Errorf("query rule %d: match_digest: %w", q.RuleID, err)
		}
		cr.digestPre = prefixOf(flags + q.MatchDigest)
	}
	if q.MatchPattern != "" {
		if cr.pattern, err = regexp.Compile(flags + q.MatchPattern); err != nil {
			return rule{}, fmt.Errorf("query rule %d: match_pattern: %w", q.RuleID, err)
		}
		cr.patternPre = prefixOf(flags + q.MatchPattern)
	}
	if q.Digest != "" {
		h, err := strconv.ParseUint(q.Digest[min(2, len(q.Digest)):], 16, 64)
		if err != nil || !config.ValidDigestHash(q.Digest) {
			return rule{}, fmt.Errorf("query rule %d: digest %q is not a digest hash", q.RuleID, q.Digest)
		}
		cr.hash, cr.hasHash = h, true
	}
	if q.ReplacePattern != "" {
		if cr.pattern == nil {
			return rule{}, fmt.Errorf("query rule %d: replace_pattern needs match_pattern", q.RuleID)
		}
		cr.replace, cr.hasReplace = replaceTemplate(q.ReplacePattern), true
	}
	if cr.client, err = compileClient(q.ClientAddr); err != nil {
		return rule{}, fmt.Errorf("query rule %d: client_addr: %w", q.RuleID, err)
	}
	if q.ProxyAddr != "" {
		if cr.proxyAddr, err = netip.ParseAddr(q.ProxyAddr); err != nil {
			return rule{}, fmt.Errorf("query rule %d: proxy_addr: %w", q.RuleID, err)
		}
		cr.proxyAddr = cr.proxyAddr.Unmap()
	}
	cr.actions = ruleActions(q)
	if q.CacheTTL > 0 {
		cr.cache = CacheSpec{TTL: q.CacheTTL, Empty: q.CachesEmpty(), Timeout: q.CacheTimeout}
	}
	return cr, nil
}

// ruleActions collects the session controls of rule q.
func ruleActions(q config.QueryRule) RuleActions {
	a := RuleActions{NoMultiplex: q.Multiplex != nil && *q.Multiplex == 0, Sticky: q.StickyConn, Log: q.Log,
		Delay: q.Delay}
	if q.Retries != nil {
		a.Retries, a.HasRetries = *q.Retries, true
	}
	if q.MirrorHostgroup != nil {
		a.MirrorHostgroup, a.HasMirror = *q.MirrorHostgroup, true
	}
	if q.MirrorFlagOUT != nil {
		a.MirrorFlag, a.HasMirrorFlag = *q.MirrorFlagOUT, true
	}
	return a
}

// compileClient compiles a client_addr (see config.ValidClientAddr).
func compileClient(a string) (clientMatch, error) {
	switch {
	case a == "":
		return clientMatch{}, nil
	case strings.HasSuffix(a, "%"):
		if a == "%" {
			return clientMatch{}, nil // any client
		}
		return clientMatch{set: true, text: a[:len(a)-1]}, nil
	case strings.Contains(a, "/"):
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return clientMatch{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return clientMatch{set: true, prefix: p.Masked()}, nil
	default:
		ad, err := netip.ParseAddr(a)
		if err != nil {
			return clientMatch{}, err
		}
		ad = ad.Unmap()
		return clientMatch{set: true, prefix: netip.PrefixFrom(ad, ad.BitLen())}, nil
	}
}

// replaceTemplate turns ProxySQL's replace_pattern (RE2 syntax: \1 … \9
// for capture groups, \\ for a backslash) into a Go regexp template. A
// Go-style ${1} passes through unchanged.
func replaceTemplate(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			switch c := p[i+1]; {
			case c >= '0' && c <= '9':
				b.WriteString("${" + string(c) + "}")
				i++
				continue
			case c == '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Empty reports whether there is no active rule (the common case, which
// then costs nothing per statement).
func (r *Rules) Empty() bool { return r == nil || len(r.list) == 0 }

// NeedsDigest reports whether some rule matches on the digest text or its
// hash.
func (r *Rules) NeedsDigest() bool { return r != nil && (r.useDigest || r.useHash) }

// HasTimeouts reports whether some rule sets a statement timeout: the
// rules then matter even where their destination does not (a pinned
// session).
func (r *Rules) HasTimeouts() bool { return r != nil && r.useTimeout }

// HasRewrites reports whether some rule rewrites statements.
func (r *Rules) HasRewrites() bool { return r != nil && r.useRewrite }

// HasCache reports whether some rule sets a cache_ttl: the query cache is
// in use.
func (r *Rules) HasCache() bool { return r != nil && r.useCache }

// HasMirrors reports whether some rule mirrors statements (inside
// transactions too).
func (r *Rules) HasMirrors() bool { return r != nil && r.useMirror }

// Match evaluates the rules on a statement's user, schema, digest and
// text (no client or proxy address, flag 0); see MatchInput.
func (r *Rules) Match(user, schema, digest, query string) RuleMatch {
	in := RuleInput{User: user, Schema: schema, Digest: digest, Query: query}
	return r.MatchInput(&in)
}

// MatchInput evaluates the rules in rule_id order, as ProxySQL does: a
// rule is considered only while the statement's flag equals its flagIN;
// a matching rule sets the destination (and the other actions), replaces
// the text with its replace_pattern (later rules see the new text), sets
// the flag to its flagOUT when it has one, and ends the evaluation when
// it has apply=1, error_msg or OK_msg. It allocates only to rewrite.
func (r *Rules) MatchInput(in *RuleInput) RuleMatch {
	var m RuleMatch
	if r.Empty() {
		return m
	}
	flag, query := in.Flag, in.Query
	var hash uint64
	if r.useHash {
		hash = DigestHash(in.Digest)
	}
	for i := range r.list {
		cr := &r.list[i]
		if cr.flagIN != flag || !cr.matches(in, query, hash) {
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
		m.RuleActions = mergeActions(m.RuleActions, cr.actions)
		if cr.hasReplace {
			query = cr.rewrite(query)
			m.Rewritten = query
		}
		if cr.hasOut {
			flag = cr.flagOUT
		}
		if cr.errMsg != "" {
			m.ErrorMsg = cr.errMsg
			return m
		}
		if cr.okMsg != "" {
			m.OKMsg = cr.okMsg
			return m
		}
		if cr.apply {
			return m
		}
	}
	return m
}

// matches reports whether statement in (with text query, digest hash
// hash) satisfies every criterion of the rule.
func (cr *rule) matches(in *RuleInput, query string, hash uint64) bool {
	if (cr.username != "" && cr.username != in.User) || (cr.schema != "" && cr.schema != in.Schema) ||
		(cr.hasHash && cr.hash != hash) || (cr.proxyPort != 0 && cr.proxyPort != in.ProxyPort) ||
		(cr.proxyAddr.IsValid() && cr.proxyAddr != in.ProxyAddr.Unmap()) || !cr.client.match(in.Client, in.ClientText) {
		return false
	}
	if cr.digest != nil && (cr.digestPre.rulesOut(in.Digest) || !cr.digest.MatchString(in.Digest)) {
		return false
	}
	if cr.pattern == nil {
		return true
	}
	if cr.patternPre.rulesOut(query) {
		return cr.negate
	}
	return cr.pattern.MatchString(query) != cr.negate
}

// rewrite applies the rule's replace_pattern to q: every match with
// re_modifiers GLOBAL, else the first one.
func (cr *rule) rewrite(q string) string {
	if cr.global {
		return cr.pattern.ReplaceAllString(q, cr.replace)
	}
	loc := cr.pattern.FindStringSubmatchIndex(q)
	if loc == nil {
		return q
	}
	out := make([]byte, 0, len(q)+len(cr.replace))
	out = append(out, q[:loc[0]]...)
	out = cr.pattern.ExpandString(out, cr.replace, q, loc)
	return string(append(out, q[loc[1]:]...))
}

// mergeActions lays the actions b of a later matching rule over a.
func mergeActions(a, b RuleActions) RuleActions {
	a.NoMultiplex = a.NoMultiplex || b.NoMultiplex
	a.Sticky = a.Sticky || b.Sticky
	a.Log = a.Log || b.Log
	if b.HasRetries {
		a.Retries, a.HasRetries = b.Retries, true
	}
	if b.Delay > 0 {
		a.Delay = b.Delay
	}
	if b.HasMirror {
		a.MirrorHostgroup, a.HasMirror = b.MirrorHostgroup, true
	}
	if b.HasMirrorFlag {
		a.MirrorFlag, a.HasMirrorFlag = b.MirrorFlag, true
	}
	return a
}

// DigestHash is the hash stats_mysql_query_digest shows for a digest text
// (FNV-64a), computed without allocating.
func DigestHash(text string) uint64 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(text); i++ {
		h ^= uint64(text[i])
		h *= prime64
	}
	return h
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
