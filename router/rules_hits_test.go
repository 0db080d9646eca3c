package router

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// Every matching rule counts a hit; a recompiled rule set keeps the
// counts of the rules it shares by rule_id.
func TestRuleHitsAndKeepHits(t *testing.T) {
	dest := 10
	qs := []config.QueryRule{
		{RuleID: 1, Active: true, MatchPattern: "^SELECT", DestinationHostgroup: &dest},
		{RuleID: 2, Active: true, MatchPattern: "FOR UPDATE$", Apply: true},
	}
	r, err := CompileRules(qs)
	require.NoError(t, err)
	r.Match("u", "", "", "SELECT 1")
	r.Match("u", "", "", "SELECT 1 FOR UPDATE")
	r.Match("u", "", "", "UPDATE t SET a = 1")
	require.Equal(t, []RuleHits{{1, 2}, {2, 1}}, r.Hits())

	r2, err := CompileRules(append(qs[:1:1], config.QueryRule{RuleID: 3, Active: true, MatchPattern: "x"}))
	require.NoError(t, err)
	r2.KeepHits(r)
	require.Equal(t, []RuleHits{{1, 2}, {3, 0}}, r2.Hits())
}
