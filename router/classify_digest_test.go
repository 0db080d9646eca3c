package router

import (
	"fmt"
	"reflect"
	"regexp"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// reference is what ClassifyDigest must return: Classify, then Digest when
// the classification has none (what a session did before it).
func reference(c *Classifier, sql string) Stmt {
	st := c.Classify(sql)
	if st.Digest == "" {
		st.Digest = c.Digest(sql)
	}
	return st
}

var digits = regexp.MustCompile(`[0-9]+`)

// ClassifyDigest returns Classify's result plus Digest's, field for field,
// for every corpus statement, under every lexing mode, when the statements
// come in corpus order (a session's memo full of other shapes), twice in a
// row (the memo's hit), and with other literal values (the hit a session
// running the same shape with new values gets).
func TestClassifyDigestMatchesClassify(t *testing.T) {
	corpus := loadCorpus(t)
	for _, mode := range []string{"", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"} {
		t.Run(mode, func(t *testing.T) {
			ref, got := NewClassifier(NewCache(0)), NewClassifier(NewCache(0))
			ref.SetSQLMode(mode)
			got.SetSQLMode(mode)
			hits := 0
			for round := range 3 {
				for _, cl := range corpus {
					sqls := []string{cl.sql, cl.sql, digits.ReplaceAllStringFunc(cl.sql, func(d string) string {
						return fmt.Sprint(len(d) + round + 7)
					})}
					for _, sql := range sqls {
						want := reference(ref, sql)
						if memoized(got, sql) {
							hits++
						}
						require.Equal(t, want, got.ClassifyDigest(sql), "line %d %q", cl.line, sql)
					}
				}
			}
			require.Positive(t, hits, "the memo answered some statements")
		})
	}
}

// memoized reports whether c's memo holds a shape of sql's digest.
func memoized(c *Classifier, sql string) bool {
	if c.shapes == nil {
		return false
	}
	var d digester
	d.normalize(sql, c.mode.lex)
	for _, sh := range c.shapes.e {
		if sh.digest != "" && sh.lex == c.mode.lex && sh.digest == string(d.buf) {
			return true
		}
	}
	return false
}

// Statements the memo must not answer although their digest is that of a
// memoized fast-path statement: an executable comment (the fast path
// refuses it; the digest keeps its text without the markers), another
// sql_mode, and per-call results (SET, USE) that are never memoized.
func TestClassifyDigestExclusions(t *testing.T) {
	for _, tc := range []struct {
		name, first, second, mode string
	}{
		{"executable comment", "SELECT c FROM t WHERE id=1", "SELECT c FROM t WHERE id=1 /*!*/", ""},
		{"executable comment with text", "SELECT 1", "SELECT /*! 2 */", ""},
		{"MariaDB executable comment", "SELECT 1", "SELECT /*M!100000 1 */", ""},
		{"empty statement after it", "SELECT 1", "SELECT 1;;", ""},
		{"empty statement after BEGIN", "BEGIN", "BEGIN;;", ""},
		{"other sql_mode", `SELECT "a" FROM t`, `SELECT "a" FROM t`, "ANSI_QUOTES"},
		{"set", "SET autocommit=0", "SET autocommit=1", ""},
		{"use", "USE db1", "USE DB1", ""},
		{"hint", "SELECT c FROM t WHERE id=1", "/* rwproxy:writer */ SELECT c FROM t WHERE id=2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, got := NewClassifier(NewCache(0)), NewClassifier(NewCache(0))
			first := got.ClassifyDigest(tc.first)
			require.Equal(t, reference(ref, tc.first), first)
			ref.SetSQLMode(tc.mode)
			got.SetSQLMode(tc.mode)
			second := got.ClassifyDigest(tc.second)
			require.Equal(t, reference(ref, tc.second), second)
			if tc.mode == "" && tc.name != "use" {
				require.Equal(t, first.Digest, second.Digest, "the case is one of a shared digest")
			}
		})
	}
}

// The memo holds at most 2*shapeSets shapes; with far more shapes than
// that in rotation it misses and still answers right. A session rotating
// through sysbench's oltp_read_only shapes (5 selects on 4 tables, BEGIN,
// COMMIT) takes every classification and digest from it, and classifying
// costs no allocation.
func TestClassifyDigestMemoBounded(t *testing.T) {
	shapes := make([]string, 5*shapeSets)
	for i := range shapes {
		shapes[i] = fmt.Sprintf("SELECT c%d FROM sbtest1 WHERE id=", i)
	}
	c, ref := NewClassifier(NewCache(0)), NewClassifier(NewCache(0))
	for i := range 300 {
		sql := fmt.Sprint(shapes[i%len(shapes)], i)
		require.Equal(t, reference(ref, sql), c.ClassifyDigest(sql))
		n := 0
		for _, sh := range c.shapes.e {
			if sh.digest != "" {
				n++
			}
		}
		require.LessOrEqual(t, n, 2*shapeSets)
	}

	c = NewClassifier(NewCache(0))
	var texts []string
	for _, q := range []string{"SELECT c FROM sbtest%d WHERE id=5", "SELECT c FROM sbtest%d WHERE id BETWEEN 1 AND 100",
		"SELECT SUM(k) FROM sbtest%d WHERE id BETWEEN 1 AND 100", "SELECT c FROM sbtest%d WHERE id BETWEEN 1 AND 100 ORDER BY c",
		"SELECT DISTINCT c FROM sbtest%d WHERE id BETWEEN 1 AND 100 ORDER BY c"} {
		for table := 1; table <= 4; table++ {
			texts = append(texts, fmt.Sprintf(q, table))
		}
	}
	texts = append(texts, "BEGIN", "COMMIT")
	for range 2 {
		for _, q := range texts {
			c.ClassifyDigest(q)
		}
	}
	missing := 0
	for _, q := range texts {
		if !memoized(c, q) {
			missing++
		}
	}
	// Two-way sets: a set that three of the 22 shapes hash to keeps two
	// (the hash's seed is random; a few such sets are expected).
	require.LessOrEqual(t, missing, len(texts)/2, "the memo holds most of oltp_read_only's shapes")
	var held []string
	for _, q := range texts {
		if memoized(c, q) {
			held = append(held, q)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		st := c.ClassifyDigest(held[i%len(held)])
		if !st.Flags.Has(FlagFastPath) {
			t.Fatalf("%q: %s %s %q", held[i%len(held)], st.Kind, st.Flags, st.Digest)
		}
		i++
	})
	require.Zero(t, allocs, "every shape's digest comes from the memo")
	st := c.ClassifyDigest(held[0])
	var same bool
	for _, sh := range c.shapes.e {
		same = same || unsafe.StringData(sh.digest) == unsafe.StringData(st.Digest)
	}
	require.True(t, same, "the memoized string itself")
}

// sessionClassify is what a session with digest statistics (the default)
// runs for a text statement.
func sessionClassify(c *Classifier, sql string) Stmt { return c.ClassifyDigest(sql) }

// FuzzClassifyDigest checks ClassifyDigest against Classify plus Digest
// with a memo that persists across inputs, for each input and for the
// input with other digits (a statement of the same digest when only
// literals change), under each SQL mode that changes tokenization.
func FuzzClassifyDigest(f *testing.F) {
	for _, cl := range loadCorpus(f) {
		f.Add(cl.sql, uint8(0))
	}
	ref, got := NewClassifier(NewCache(1000)), NewClassifier(NewCache(1000))
	f.Fuzz(func(t *testing.T, sql string, mode uint8) {
		m := fuzzModes[int(mode)%len(fuzzModes)]
		ref.SetSQLMode(m)
		got.SetSQLMode(m)
		other := digits.ReplaceAllStringFunc(sql, func(d string) string { return fmt.Sprint(len(d) + 3) })
		for _, q := range []string{sql, other, sql} {
			want := reference(ref, q)
			if st := got.ClassifyDigest(q); !reflect.DeepEqual(st, want) {
				t.Fatalf("%q (%s): ClassifyDigest %+v, Classify+Digest %+v", q, m, st, want)
			}
		}
	})
}
