package router

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// inList is "SELECT ... WHERE id IN (0,1,2,...)" of at least n bytes, with
// prefix and suffix around the list.
func inList(prefix, suffix string, n int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString(suffix)
	return b.String()
}

// TestClassifyLong: statements over the parse limit are classified from
// their tokens: plain reads stay reads, everything else is a write to the
// primary, with the session-state flags its words may stand for.
func TestClassifyLong(t *testing.T) {
	const limit = 4096
	tests := []struct {
		name  string
		sql   string
		kind  Kind
		flags Flags // must all be set
		fast  bool
	}{
		{"plain read", inList("SELECT * FROM t WHERE id IN (", ")", limit), KindRead, FlagFastPath, true},
		{"locking read", inList("SELECT * FROM t WHERE id IN (", ") FOR UPDATE", limit), KindWrite, FlagParseError, false},
		{"extended insert", inList("INSERT INTO t (id) VALUES (", ")", limit), KindWrite, FlagParseError, false},
		{"temporary table", inList("CREATE TEMPORARY TABLE tt AS SELECT * FROM t WHERE id IN (", ")", limit), KindWrite,
			FlagParseError | FlagCreateTempTable, false},
		{"user variable", inList("SELECT @x := id FROM t WHERE id IN (", ")", limit), KindWrite,
			FlagParseError | FlagUserVarWrite, false},
		{"get_lock", inList("SELECT GET_LOCK('a', 1), id FROM t WHERE id IN (", ")", limit), KindWrite,
			FlagParseError | FlagGetLock, false},
		{"last_insert_id", inList("UPDATE t SET x = LAST_INSERT_ID() WHERE id IN (", ")", limit), KindWrite,
			FlagParseError | FlagLastInsertID, false},
		{"lock tables", "LOCK TABLES t WRITE" + strings.Repeat(" ", limit), KindWrite, FlagParseError | FlagLockTables, false},
		{"two statements", inList("DELETE FROM t WHERE id IN (", "); SELECT 1", limit), KindWrite, FlagParseError | FlagMulti, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClassifier(nil)
			c.SetParseLimit(limit)
			st := c.Classify(tc.sql)
			require.Equal(t, tc.kind, st.Kind)
			require.Equal(t, tc.flags, st.Flags&tc.flags, "flags %v", st.Flags)
			require.Equal(t, tc.fast, st.Flags&FlagFastPath != 0)

			// Under the limit the same statement is parsed: the parser's
			// answer is never less conservative than the token one.
			full := NewClassifier(nil).Classify(tc.sql)
			if full.Kind == KindWrite {
				require.Equal(t, KindWrite, st.Kind)
			}
		})
	}
}

// TestClassifyLongSkipsTheParser: a 2 MiB extended INSERT over the default
// limit of 1 MiB is classified without the parser (which would allocate
// 150-250 times its size): the classification allocates a small multiple.
func TestClassifyLongSkipsTheParser(t *testing.T) {
	q := inList("INSERT INTO t (id) VALUES (", ")", 2<<20)
	c := NewClassifier(nil)
	c.SetParseLimit(1 << 20)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.Classify(q)
		}
	})
	perOp := allocs.AllocedBytesPerOp()
	t.Logf("2 MiB INSERT over the limit: %d bytes allocated per Classify", perOp)
	require.Less(t, perOp, int64(8*len(q)), "bytes allocated for one statement")
	st := c.Classify(q)
	require.Equal(t, KindWrite, st.Kind)
}
