//go:build !race

package router

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRuleMatchNoAllocs: evaluating rules that do not rewrite allocates
// nothing.
func TestRuleMatchNoAllocs(t *testing.T) {
	r := benchRules(100)
	in := RuleInput{User: "app", Schema: "db", Digest: "SELECT * FROM `sbtest1` WHERE `id` = ?",
		Query: "SELECT c FROM sbtest1 WHERE id = 42", Client: netip.MustParseAddr("127.0.0.1"), ClientText: "127.0.0.1"}
	require.Zero(t, testing.AllocsPerRun(100, func() { r.MatchInput(&in) }))
}
