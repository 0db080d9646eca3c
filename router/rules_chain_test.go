package router

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

func ip(p int) *int        { return &p }
func str(s string) *string { return &s }

// TestRuleChains: flagIN/flagOUT chains are evaluated in rule_id order; a
// rule of another chain is skipped; apply ends the evaluation; the last
// matching rule's destination wins.
func TestRuleChains(t *testing.T) {
	rules, err := CompileRules([]config.QueryRule{
		{RuleID: 1, Active: true, MatchPattern: "^SELECT", FlagOUT: ip(100), DestinationHostgroup: ip(10)},
		{RuleID: 2, Active: true, MatchPattern: "^SELECT", DestinationHostgroup: ip(99), Apply: true}, // flagIN 0: skipped once in chain 100
		{RuleID: 3, Active: true, FlagIN: 100, MatchPattern: "FROM orders", DestinationHostgroup: ip(30), FlagOUT: ip(200)},
		{RuleID: 4, Active: true, FlagIN: 100, MatchPattern: "FROM users", DestinationHostgroup: ip(40), Apply: true},
		{RuleID: 5, Active: true, FlagIN: 200, MatchPattern: "LIMIT", DestinationHostgroup: ip(50), Apply: true},
		{RuleID: 6, Active: true, FlagIN: 200, DestinationHostgroup: ip(60)},
		{RuleID: 7, Active: true, FlagIN: 0, MatchPattern: "^UPDATE", DestinationHostgroup: ip(70)},
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, q  string
		rule, hg int
	}{
		{"chain 0 -> 100 -> 200, apply at 5", "SELECT * FROM orders LIMIT 1", 5, 50},
		{"chain 0 -> 100 -> 200, no apply: last match 6", "SELECT * FROM orders", 6, 60},
		{"chain 0 -> 100, apply at 4", "SELECT * FROM users", 4, 40},
		{"chain 100 without a match keeps rule 1", "SELECT 1", 1, 10},
		{"chain 0 only", "UPDATE t SET a = 1", 7, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := rules.Match("u", "", "", tc.q)
			require.Equal(t, tc.rule, m.RuleID)
			require.True(t, m.HasHostgroup)
			require.Equal(t, tc.hg, m.Hostgroup)
		})
	}
	// rule 2 never matched: every SELECT left chain 0 at rule 1
	hits := map[int]uint64{}
	for _, h := range rules.Hits() {
		hits[h.RuleID] = h.Hits
	}
	require.Equal(t, map[int]uint64{1: 4, 2: 0, 3: 2, 4: 1, 5: 1, 6: 1, 7: 1}, hits)
}

// TestRuleMatchCriteria covers negate_match_pattern, re_modifiers,
// match_digest vs match_pattern, digest, client_addr and proxy_addr/port.
func TestRuleMatchCriteria(t *testing.T) {
	digest := "SELECT * FROM `t` WHERE `id` = ?"
	hash := fmt.Sprintf("0x%016X", DigestHash(digest))
	local := netip.MustParseAddr("10.0.0.5")
	for _, tc := range []struct {
		name  string
		rule  config.QueryRule
		in    RuleInput
		match bool
	}{
		{"caseless by default", config.QueryRule{MatchPattern: "^select"}, RuleInput{Query: "SELECT 1"}, true},
		{"no CASELESS: case-sensitive", config.QueryRule{MatchPattern: "^select", ReModifiers: str("")}, RuleInput{Query: "SELECT 1"}, false},
		{"negate", config.QueryRule{MatchPattern: "^SELECT", NegateMatchPattern: true}, RuleInput{Query: "UPDATE t"}, true},
		{"negate, matching text", config.QueryRule{MatchPattern: "^SELECT", NegateMatchPattern: true}, RuleInput{Query: "SELECT 1"}, false},
		{"match_digest sees the digest, not the text", config.QueryRule{MatchDigest: "id` = \\?"}, RuleInput{Query: "SELECT * FROM t WHERE id = 5", Digest: digest}, true},
		{"match_pattern sees the text, not the digest", config.QueryRule{MatchPattern: "id` = \\?"}, RuleInput{Query: "SELECT * FROM t WHERE id = 5", Digest: digest}, false},
		{"digest hash", config.QueryRule{Digest: hash}, RuleInput{Digest: digest}, true},
		{"digest hash, other statement", config.QueryRule{Digest: hash}, RuleInput{Digest: "SELECT ?"}, false},
		{"client address", config.QueryRule{ClientAddr: "192.168.1.7"}, RuleInput{Client: netip.MustParseAddr("192.168.1.7")}, true},
		{"client address v4-in-v6", config.QueryRule{ClientAddr: "192.168.1.7"}, RuleInput{Client: netip.MustParseAddr("::ffff:192.168.1.7")}, true},
		{"client subnet", config.QueryRule{ClientAddr: "192.168.0.0/16"}, RuleInput{Client: netip.MustParseAddr("192.168.200.1")}, true},
		{"client outside the subnet", config.QueryRule{ClientAddr: "192.168.0.0/16"}, RuleInput{Client: netip.MustParseAddr("10.1.1.1")}, false},
		{"client wildcard", config.QueryRule{ClientAddr: "10.1.%"}, RuleInput{ClientText: "10.1.2.3"}, true},
		{"client wildcard, other", config.QueryRule{ClientAddr: "10.1.%"}, RuleInput{ClientText: "10.11.2.3"}, false},
		{"proxy address and port", config.QueryRule{ProxyAddr: "10.0.0.5", ProxyPort: 6033}, RuleInput{ProxyAddr: local, ProxyPort: 6033}, true},
		{"proxy port differs", config.QueryRule{ProxyAddr: "10.0.0.5", ProxyPort: 6033}, RuleInput{ProxyAddr: local, ProxyPort: 3306}, false},
		{"proxy address differs", config.QueryRule{ProxyAddr: "10.0.0.6"}, RuleInput{ProxyAddr: local}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rule.RuleID, tc.rule.Active, tc.rule.DestinationHostgroup = 1, true, ip(5)
			r, err := CompileRules([]config.QueryRule{tc.rule})
			require.NoError(t, err)
			m := r.MatchInput(&tc.in)
			require.Equal(t, tc.match, m.RuleID == 1, "%+v", m)
		})
	}
}

// TestRuleRewrite: replace_pattern with capture groups, first match or
// every match (GLOBAL); later rules see the rewritten text.
func TestRuleRewrite(t *testing.T) {
	r, err := CompileRules([]config.QueryRule{
		{RuleID: 1, Active: true, MatchPattern: `FROM (\w+)_old\b`, ReplacePattern: `FROM \1_new`},
		{RuleID: 2, Active: true, MatchPattern: `FROM orders_new`, DestinationHostgroup: ip(20)},
	})
	require.NoError(t, err)
	m := r.Match("u", "", "", "SELECT * FROM orders_old JOIN x FROM orders_old")
	require.Equal(t, "SELECT * FROM orders_new JOIN x FROM orders_old", m.Rewritten, "first match only")
	require.Equal(t, 2, m.RuleID)
	require.Equal(t, 20, m.Hostgroup)

	g, err := CompileRules([]config.QueryRule{{RuleID: 1, Active: true, MatchPattern: `(\d+)`, ReplacePattern: `<\1>`,
		ReModifiers: str("CASELESS,GLOBAL")}})
	require.NoError(t, err)
	require.Equal(t, "SELECT <1>, <22>", g.Match("u", "", "", "SELECT 1, 22").Rewritten)
	require.Empty(t, g.Match("u", "", "", "SELECT a").Rewritten, "no match: not rewritten")
}

// TestRuleActions: OK_msg stops like error_msg; the session controls of
// every matching rule are merged, later ones overriding.
func TestRuleActions(t *testing.T) {
	r, err := CompileRules([]config.QueryRule{
		{RuleID: 1, Active: true, MatchPattern: "^SELECT", Multiplex: ip(0), Retries: ip(3), Delay: 5 * time.Millisecond, Log: true},
		{RuleID: 2, Active: true, MatchPattern: "FROM t", Retries: ip(0), StickyConn: true, MirrorHostgroup: ip(30), MirrorFlagOUT: ip(9)},
		{RuleID: 3, Active: true, MatchPattern: "^SET sql_log_bin", OKMsg: "ignored"},
		{RuleID: 4, Active: true, MatchPattern: "^SET", DestinationHostgroup: ip(1)},
	})
	require.NoError(t, err)
	m := r.Match("u", "", "", "SELECT * FROM t")
	require.Equal(t, RuleActions{NoMultiplex: true, Sticky: true, Log: true, Retries: 0, HasRetries: true,
		Delay: 5 * time.Millisecond, MirrorHostgroup: 30, HasMirror: true, MirrorFlag: 9, HasMirrorFlag: true}, m.RuleActions)
	ok := r.Match("u", "", "", "SET sql_log_bin = 0")
	require.Equal(t, RuleMatch{RuleID: 3, OKMsg: "ignored"}, ok, "OK_msg ends the evaluation")
}

// benchRules returns n active rules that a sysbench point select does not
// match (the worst case: every rule is evaluated), mixing criteria.
func benchRules(n int) *Rules {
	qs := make([]config.QueryRule, 0, n)
	for i := range n {
		q := config.QueryRule{RuleID: i + 1, Active: true, DestinationHostgroup: ip(10)}
		switch i % 4 {
		case 0:
			q.MatchDigest = fmt.Sprintf("^SELECT .* FROM `report_%d`", i)
		case 1:
			q.MatchPattern = fmt.Sprintf("^UPDATE audit_%d ", i)
		case 2:
			q.Username, q.MatchPattern = fmt.Sprintf("batch%d", i), "^SELECT"
		case 3:
			q.ClientAddr, q.FlagIN = "10.0.0.0/8", 0
		}
		qs = append(qs, q)
	}
	r, err := CompileRules(qs)
	if err != nil {
		panic(err)
	}
	return r
}

// BenchmarkRulesMatch measures one statement's rule evaluation with 0, 10
// and 100 active rules that do not match it (docs/benchmarks.md).
func BenchmarkRulesMatch(b *testing.B) {
	for _, n := range []int{0, 10, 100} {
		r := benchRules(n)
		in := RuleInput{User: "app", Schema: "db", Digest: "SELECT `c` FROM `sbtest1` WHERE `id` = ?",
			Query: "SELECT c FROM sbtest1 WHERE id = 42", Client: netip.MustParseAddr("127.0.0.1"), ClientText: "127.0.0.1"}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.MatchInput(&in)
			}
		})
	}
}

// TestAnchoredPrefix: the prefix pre-check never rules out a text the
// regexp matches.
func TestAnchoredPrefix(t *testing.T) {
	for _, tc := range []struct {
		pattern, text string
		out           bool
	}{
		{"(?i)^SELECT .* FOR UPDATE", "select a from t for update", false},
		{"(?i)^SELECT", "UPDATE t", true},
		{"^SELECT", "select 1", true},
		{"(?i)^(SELECT|SHOW)", "SHOW TABLES", false},
		{"(?i)FOR UPDATE$", "SELECT 1 FOR UPDATE", false},
		{"(?i)^SEL", "SE", true},
		{"(?i)FOR UPDATE$", "SELECT 1 for update", false},
		{"(?i)FOR UPDATE$", "SELECT 1", true},
		{"FOR UPDATE$", "SELECT 1 for update", true},
		{"(?i)^SELECT .* FROM `report_3`", "SELECT `c` FROM `sbtest1` WHERE `id` = ?", true},
		{"(?i)^SELECT .* FROM `report_3`", "select a from `REPORT_3`", false},
		{"(?i)(a|b)cd", "xBCD", false},
		{"(?i)naïve", "NAÏVE", false},
	} {
		p := prefixOf(tc.pattern)
		require.Equal(t, tc.out, p.rulesOut(tc.text), tc.pattern+" / "+tc.text)
	}
}
