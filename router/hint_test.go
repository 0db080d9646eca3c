package router

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatementHints checks where hints are read (statement level) and
// where they are not (optimizer hints, executable comments, strings, the
// middle of a statement), in both spellings, for the fast path and the
// parser.
func TestStatementHints(t *testing.T) {
	w := Hint{Target: HintWriter}
	r := Hint{Target: HintReader}
	hg := func(n int) Hint { return Hint{Target: HintHostgroup, Hostgroup: n} }
	tests := []struct {
		name string
		sql  string
		mode SQLMode
		want Hint
	}{
		{"leading", "/* rwproxy:writer */ SELECT 1", 0, w},
		{"after first keyword", "SELECT /* rwproxy:writer */ COUNT(*) FROM app.txprep", 0, w},
		{"after first keyword no spaces", "SELECT/*rwproxy:reader*/1", 0, r},
		{"at the end", "SELECT c FROM t WHERE id = 1 /* rwproxy:writer */", 0, w},
		{"at the end before semicolon", "SELECT 1 /* rwproxy:writer */ ;", 0, w},
		{"at the end after semicolon", "SELECT 1; /* rwproxy:writer */", 0, w},
		{"end of multi-statement", "SELECT 1; SELECT 2 /* rwproxy:writer */", 0, w},
		{"insert hint at end", "UPDATE t SET a = 1 /* rwproxy:hostgroup=10 */", 0, hg(10)},
		{"sqlcommenter", "SELECT * FROM t /*rwproxy='writer'*/", 0, w},
		{"sqlcommenter list", "SELECT * FROM t /*action='list',controller='index',rwproxy='reader',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/", 0, r},
		{"sqlcommenter hostgroup encoded", "SELECT 1 /*rwproxy='hostgroup%3D20'*/", 0, hg(20)},
		{"sqlcommenter hostgroup plain", "SELECT 1 /*rwproxy='hostgroup=10'*/", 0, hg(10)},
		{"sqlcommenter leading", "/*rwproxy='writer'*/ SELECT 1", 0, w},
		{"sqlcommenter unquoted", "SELECT 1 /*rwproxy=writer*/", 0, Hint{}},
		{"sqlcommenter bad value", "SELECT 1 /*rwproxy='primary'*/", 0, Hint{}},
		{"leading wins over end", "/* rwproxy:reader */ SELECT 1 /* rwproxy:writer */", 0, r},
		{"after keyword wins over end", "SELECT /* rwproxy:reader */ 1 /* rwproxy:writer */", 0, r},
		{"middle ignored", "SELECT a, /* rwproxy:writer */ b FROM t", 0, Hint{}},
		{"middle ignored before end comment", "SELECT /* x */ a /* rwproxy:writer */ FROM t", 0, Hint{}},
		{"optimizer hint", "SELECT /*+ rwproxy:writer */ 1", 0, Hint{}},
		{"optimizer hint sqlcommenter", "SELECT 1 /*+rwproxy='writer'*/", 0, Hint{}},
		{"executable comment", "SELECT /*! rwproxy:writer */ 1", 0, Hint{}},
		{"mariadb executable comment", "SELECT 1 /*M! rwproxy:writer */", 0, Hint{}},
		{"string", "SELECT '/* rwproxy:writer */'", 0, Hint{}},
		{"string at end", "SELECT 1 FROM t WHERE a = '/* rwproxy:writer */'", 0, Hint{}},
		{"double-quoted string", `SELECT "x /* rwproxy:writer */"`, 0, Hint{}},
		{"ansi quoted identifier", `SELECT 1 AS "/* rwproxy:writer */"`, ModeANSIQuotes, Hint{}},
		{"escaped quote keeps string open", `SELECT 'a\' /* rwproxy:writer */ '`, 0, Hint{}},
		{"no backslash escapes closes string", `SELECT 'a\' /* rwproxy:writer */`, ModeNoBackslashEscapes, w},
		{"line comment", "SELECT 1 -- rwproxy:writer", 0, Hint{}},
		{"unterminated comment", "SELECT 1 /* rwproxy:writer", 0, Hint{}},
		{"no comment", "SELECT c FROM sbtest1 WHERE id=5012", 0, Hint{}},
	}
	for _, fast := range []bool{true, false} {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := newTestClassifier(NewCache(100), fast)
				if tc.mode&ModeNoBackslashEscapes != 0 {
					c.SetSQLMode("NO_BACKSLASH_ESCAPES")
				}
				if tc.mode&ModeANSIQuotes != 0 {
					c.SetSQLMode("ANSI_QUOTES")
				}
				st := c.Classify(tc.sql)
				require.Equal(t, tc.want, st.Hint, "%q", tc.sql)
				require.Equal(t, tc.want.Target != HintNone, st.Flags.Has(FlagHasHint))
			})
		}
	}
}

// TestStatementHintNoAlloc: looking for hints costs no allocation, with
// or without comments.
func TestStatementHintNoAlloc(t *testing.T) {
	for _, q := range []string{
		"SELECT c FROM sbtest1 WHERE id=5012",
		"SELECT /* rwproxy:writer */ c FROM sbtest1 WHERE id=5012",
		"SELECT c FROM sbtest1 WHERE id=5012 /*action='x',rwproxy='hostgroup%3D20'*/",
	} {
		start, _ := scanLeading(q)
		n := testing.AllocsPerRun(100, func() { statementHint(q, start, 0) })
		require.Zero(t, n, "%q", q)
	}
}
