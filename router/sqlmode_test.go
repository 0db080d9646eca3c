package router

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClassifySQLMode checks that statements are tokenized under the
// session's sql_mode, by the fast path and by the parser alike, and that
// a mode change takes effect on the next statement.
func TestClassifySQLMode(t *testing.T) {
	tests := []struct {
		name  string
		mode  string
		sql   string
		kind  Kind
		flags Flags
	}{
		{"backslash escape default", "", `SELECT 'a\'; DELETE FROM t; -- '`, KindRead, 0},
		{"no backslash escapes", "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES", `SELECT 'a\'; DELETE FROM t; -- '`, KindWrite, FlagMulti},
		{"no backslash escapes lower case", "no_backslash_escapes", `SELECT 'a\'; DELETE FROM t; -- '`, KindWrite, FlagMulti},
		{"no backslash escapes plain", "NO_BACKSLASH_ESCAPES", `SELECT 'C:\dir\'`, KindRead, 0},
		{"double quotes are a string", "", `SELECT "a" FROM t`, KindRead, 0},
		{"ansi quotes identifier", "ANSI_QUOTES", `SELECT "a" FROM t`, KindRead, 0},
		{"ansi quotes hides nothing", "ANSI_QUOTES", `SELECT "x\"; DELETE FROM t; -- " FROM t`, KindWrite, FlagParseError},
		{"ansi combination", "ANSI", `SELECT "x\"; DELETE FROM t; -- " FROM t`, KindWrite, FlagParseError},
		{"default mode keeps escape in double quotes", "", `SELECT "x\"; DELETE FROM t; -- "`, KindRead, 0},
		{"ansi quotes use", "ANSI_QUOTES", `USE "db1"`, KindUse, 0},
		{"mariadb-only mode names ignored", "SIMULTANEOUS_ASSIGNMENT,NO_BACKSLASH_ESCAPES", `SELECT 'a\'`, KindRead, 0},
	}
	for _, fast := range []bool{true, false} {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := newTestClassifier(NewCache(100), fast)
				c.Classify("SELECT 1") // a parser made before the mode is set must follow it too
				c.SetSQLMode(tc.mode)
				st := c.Classify(tc.sql)
				require.Equal(t, tc.kind, st.Kind, "%q under %q", tc.sql, tc.mode)
				require.Equal(t, tc.flags, st.Flags&^FlagFastPath, "%q under %q", tc.sql, tc.mode)
			})
		}
	}
	t.Run("mode change", func(t *testing.T) {
		c := NewClassifier(NewCache(100))
		q := `SELECT 'a\'; DELETE FROM t; -- '`
		require.Equal(t, KindRead, c.Classify(q).Kind)
		c.SetSQLMode("NO_BACKSLASH_ESCAPES")
		require.Equal(t, KindWrite, c.Classify(q).Kind)
		c.SetSQLMode("")
		require.Equal(t, KindRead, c.Classify(q).Kind)
		require.Equal(t, "db1", func() string { c.SetSQLMode("ANSI_QUOTES"); return c.Classify(`USE "db1"`).DB }())
	})
}

func TestParseSQLMode(t *testing.T) {
	require.Equal(t, SQLMode(0), ParseSQLMode(""))
	require.Equal(t, SQLMode(0), ParseSQLMode("STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO"))
	require.Equal(t, ModeNoBackslashEscapes, ParseSQLMode("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES"))
	require.Equal(t, ModeANSIQuotes, ParseSQLMode("ansi_quotes"))
	require.Equal(t, ModeANSIQuotes|ModeNoBackslashEscapes, ParseSQLMode("ORACLE, NO_BACKSLASH_ESCAPES"))
	require.Zero(t, testing.AllocsPerRun(100, func() {
		c := &Classifier{}
		c.mode = modeState{raw: "ANSI_QUOTES", isSet: true}
		c.SetSQLMode("ANSI_QUOTES")
	}))
}
