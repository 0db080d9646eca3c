package router

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

func TestRulesMatch(t *testing.T) {
	hg := func(n int) *int { return &n }
	rules, err := CompileRules([]config.QueryRule{
		{RuleID: 30, Active: true, MatchDigest: "^SELECT SLEEP", Timeout: 500 * time.Millisecond, Apply: true},
		{RuleID: 10, Active: true, MatchDigest: "^SELECT", DestinationHostgroup: hg(20)},
		{RuleID: 20, Active: true, Username: "report", MatchDigest: "^SELECT", Timeout: 30 * time.Second},
		{RuleID: 25, Active: true, Username: "report", MatchPattern: "big_table", Timeout: time.Minute},
		{RuleID: 40, Active: false, MatchDigest: "^UPDATE", Timeout: time.Second},
		{RuleID: 50, Active: true, MatchDigest: "^DELETE", ErrorMsg: "no deletes"},
	})
	require.NoError(t, err)
	require.True(t, rules.HasTimeouts())
	tests := []struct {
		name, user, digest, query string
		want                      RuleMatch
	}{
		{name: "no match", user: "app", digest: "INSERT INTO t VALUES (?)", want: RuleMatch{}},
		{name: "destination only", user: "app", digest: "SELECT * FROM t", want: RuleMatch{RuleID: 10, Hostgroup: 20, HasHostgroup: true}},
		{name: "user rule adds a timeout", user: "report", digest: "SELECT * FROM t",
			want: RuleMatch{RuleID: 20, Hostgroup: 20, HasHostgroup: true, Timeout: 30 * time.Second}},
		{name: "a later match overrides the timeout", user: "report", digest: "SELECT * FROM big_table", query: "SELECT * FROM big_table",
			want: RuleMatch{RuleID: 25, Hostgroup: 20, HasHostgroup: true, Timeout: time.Minute}},
		{name: "apply stops with its timeout", user: "report", digest: "SELECT SLEEP(?)",
			want: RuleMatch{RuleID: 30, Hostgroup: 20, HasHostgroup: true, Timeout: 500 * time.Millisecond}},
		{name: "inactive rule", user: "app", digest: "UPDATE t SET a = ?", want: RuleMatch{}},
		{name: "error rule", user: "app", digest: "DELETE FROM t", want: RuleMatch{RuleID: 50, ErrorMsg: "no deletes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, rules.Match(tc.user, "", tc.digest, tc.query))
		})
	}

	plain, err := CompileRules([]config.QueryRule{{RuleID: 1, Active: true, MatchDigest: "^SELECT", DestinationHostgroup: hg(20)},
		{RuleID: 2, Active: false, MatchDigest: "^SELECT", Timeout: time.Second}})
	require.NoError(t, err)
	require.False(t, plain.HasTimeouts(), "inactive rules do not count")
	var none *Rules
	require.False(t, none.HasTimeouts())
}
