package router

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

type corpusLine struct {
	line  int
	sql   string
	kind  Kind
	flags Flags
}

func parseKindName(s string) (Kind, bool) {
	for k := Kind(0); k < numKinds; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

func parseFlagNames(s string) (Flags, bool) {
	if s == "-" {
		return 0, true
	}
	var f Flags
	for _, name := range strings.Split(s, ",") {
		found := false
		for i, n := range flagNames {
			if n == name {
				f |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return f, true
}

// loadCorpus reads testdata/classify.tsv.
func loadCorpus(tb testing.TB) []corpusLine {
	tb.Helper()
	f, err := os.Open("testdata/classify.tsv")
	require.NoError(tb, err)
	defer f.Close()
	var out []corpusLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.Split(text, "\t")
		require.Len(tb, parts, 3, "line %d: want sql<TAB>kind<TAB>flags", n)
		sql := parts[0]
		if strings.HasPrefix(sql, `"`) {
			sql, err = strconv.Unquote(sql)
			require.NoError(tb, err, "line %d: bad quoted sql", n)
		}
		kind, ok := parseKindName(parts[1])
		require.True(tb, ok, "line %d: unknown kind %q", n, parts[1])
		flags, ok := parseFlagNames(parts[2])
		require.True(tb, ok, "line %d: unknown flags %q", n, parts[2])
		out = append(out, corpusLine{line: n, sql: sql, kind: kind, flags: flags})
	}
	require.NoError(tb, sc.Err())
	return out
}

func newTestClassifier(cache *Cache, fast bool) *Classifier {
	c := NewClassifier(cache)
	c.noFast = !fast
	return c
}

// checkCorpus classifies every line and reports every mismatch.
func checkCorpus(t *testing.T, c *Classifier, corpus []corpusLine) {
	t.Helper()
	bad := 0
	for _, cl := range corpus {
		got := c.Classify(cl.sql)
		if got.Kind != cl.kind || got.Flags&^FlagFastPath != cl.flags {
			bad++
			t.Errorf("line %d %q:\n\tgot  %s\t%s\n\twant %s\t%s", cl.line, cl.sql,
				got.Kind, got.Flags&^FlagFastPath, cl.kind, cl.flags)
		}
		if got.Flags.Has(FlagParseError) && got.Kind != KindWrite {
			t.Errorf("line %d %q: parse error with kind %s", cl.line, cl.sql, got.Kind)
		}
	}
	if bad > 0 {
		t.Logf("%d of %d corpus lines mismatched", bad, len(corpus))
	}
}

func TestCorpusSize(t *testing.T) {
	require.GreaterOrEqual(t, len(loadCorpus(t)), 350)
}

func TestClassifyCorpus(t *testing.T) {
	corpus := loadCorpus(t)
	for _, fast := range []bool{true, false} {
		name := "parser"
		if fast {
			name = "fast"
		}
		t.Run(name+"/nocache", func(t *testing.T) {
			checkCorpus(t, newTestClassifier(nil, fast), corpus)
		})
		t.Run(name+"/cache", func(t *testing.T) {
			cache := NewCache(10000)
			c := newTestClassifier(cache, fast)
			checkCorpus(t, c, corpus)
			hits1, misses1 := cache.Stats()
			require.Positive(t, misses1)
			require.Equal(t, int(misses1), cache.Len(), "every miss inserts an entry")
			checkCorpus(t, c, corpus) // second pass: from the cache
			hits2, misses2 := cache.Stats()
			require.Equal(t, misses1, misses2, "second pass must not miss")
			require.Equal(t, hits1+misses1, hits2-hits1, "every second-pass lookup must hit")
		})
	}
}

// TestFastPathAgreesWithParser checks that the lexer fast path and the
// parser agree on every corpus line, and that the fast path is used.
func TestFastPathAgreesWithParser(t *testing.T) {
	corpus := loadCorpus(t)
	fast := newTestClassifier(nil, true)
	slow := newTestClassifier(nil, false)
	nfast := 0
	for _, cl := range corpus {
		a := fast.Classify(cl.sql)
		b := slow.Classify(cl.sql)
		if a.Flags.Has(FlagFastPath) {
			nfast++
			require.Empty(t, a.Digest, "line %d: fast path computes no digest", cl.line)
		} else {
			require.Equal(t, b.Digest, a.Digest, "line %d", cl.line)
		}
		require.False(t, b.Flags.Has(FlagFastPath), "line %d", cl.line)
		require.Equal(t, b.Kind, a.Kind, "line %d %q", cl.line, cl.sql)
		require.Equal(t, b.Flags, a.Flags&^FlagFastPath, "line %d %q: %s vs %s", cl.line, cl.sql, b.Flags, a.Flags)
		require.Equal(t, b.Digest, fast.Digest(cl.sql), "line %d %q", cl.line, cl.sql)
		require.Equal(t, b.SetVars, a.SetVars, "line %d %q", cl.line, cl.sql)
		require.Equal(t, b.DB, a.DB, "line %d", cl.line)
		require.Equal(t, b.Hint, a.Hint, "line %d", cl.line)
		require.Equal(t, b.AutocommitValue, a.AutocommitValue, "line %d", cl.line)
	}
	require.Greater(t, nfast, len(corpus)/3, "the fast path should classify a good share of the corpus")
}

func TestClassifyExtraction(t *testing.T) {
	sv := func(scope Scope, name, value string, literal bool) SetVar {
		return SetVar{Scope: scope, Name: name, Value: value, Literal: literal}
	}
	tests := []struct {
		name string
		sql  string
		kind Kind
		vars []SetVar
		db   string
		hint Hint
		ac   int8
	}{
		{name: "autocommit 0", sql: "SET autocommit=0", kind: KindSet, ac: 0,
			vars: []SetVar{sv(ScopeSession, "autocommit", "0", true)}},
		{name: "autocommit session OFF", sql: "SET @@session.autocommit = OFF", kind: KindSet, ac: 0,
			vars: []SetVar{sv(ScopeSession, "autocommit", "OFF", true)}},
		{name: "autocommit quoted on", sql: "set autocommit='on'", kind: KindSet, ac: 1,
			vars: []SetVar{sv(ScopeSession, "autocommit", "'on'", true)}},
		{name: "autocommit true", sql: "SET LOCAL autocommit = TRUE", kind: KindSet, ac: 1,
			vars: []SetVar{sv(ScopeSession, "autocommit", "TRUE", true)}},
		{name: "autocommit default", sql: "SET autocommit = DEFAULT", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "autocommit", "DEFAULT", true)}},
		{name: "autocommit var", sql: "SET autocommit = @x", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "autocommit", "@x", false)}},
		{name: "autocommit last wins", sql: "SET autocommit=0, autocommit=1", kind: KindSet, ac: 1,
			vars: []SetVar{sv(ScopeSession, "autocommit", "0", true), sv(ScopeSession, "autocommit", "1", true)}},
		{name: "global autocommit is not the session's", sql: "SET GLOBAL autocommit=0", kind: KindWrite, ac: -1,
			vars: []SetVar{sv(ScopeGlobal, "autocommit", "0", true)}},
		{name: "sql_mode", sql: "SET SESSION sql_mode='STRICT_ALL_TABLES'", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "sql_mode", "'STRICT_ALL_TABLES'", true)}},
		{name: "user var", sql: "SET @a=1", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeUser, "a", "1", true)}},
		{name: "user var negative", sql: "SET @A = -1.5", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeUser, "a", "-1.5", true)}},
		{name: "user var quoted", sql: "SET @`My Var` = 'x', @'o''k' = NULL", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeUser, "my var", "'x'", true), sv(ScopeUser, "o'k", "NULL", true)}},
		{name: "user var expression", sql: "SET @a = CONCAT(@b, 'x')", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeUser, "a", "CONCAT(@b, 'x')", false)}},
		{name: "user var bare word is not literal", sql: "SET @a = b", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeUser, "a", "b", false)}},
		{name: "names collate", sql: "SET NAMES utf8mb4 COLLATE utf8mb4_bin", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "names", "utf8mb4 COLLATE utf8mb4_bin", true)}},
		{name: "names quoted", sql: "set names 'UTF8MB4' collate 'utf8mb4_unicode_ci'", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "names", "utf8mb4 COLLATE utf8mb4_unicode_ci", true)}},
		{name: "charset", sql: "SET CHARACTER SET latin1", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "charset", "latin1", true)}},
		{name: "time_zone and user var", sql: "SET time_zone='+00:00', @x=2", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "time_zone", "'+00:00'", true), sv(ScopeUser, "x", "2", true)}},
		{name: "session transaction isolation", sql: "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "transaction_isolation", "'READ-COMMITTED'", true)}},
		{name: "next transaction read only", sql: "SET TRANSACTION READ ONLY", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeNextTxn, "transaction_read_only", "ON", true)}},
		{name: "next transaction two characteristics", sql: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeNextTxn, "transaction_isolation", "'REPEATABLE-READ'", true), sv(ScopeNextTxn, "transaction_read_only", "OFF", true)}},
		{name: "global transaction", sql: "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", kind: KindWrite, ac: -1,
			vars: []SetVar{sv(ScopeGlobal, "transaction_isolation", "'SERIALIZABLE'", true)}},
		{name: "global sysvar", sql: "SET @@global.x = 1", kind: KindWrite, ac: -1,
			vars: []SetVar{sv(ScopeGlobal, "x", "1", true)}},
		{name: "sticky global scope", sql: "SET GLOBAL a=1, b=2, SESSION c=3, d=4, @u=5", kind: KindWrite, ac: -1,
			vars: []SetVar{sv(ScopeGlobal, "a", "1", true), sv(ScopeGlobal, "b", "2", true),
				sv(ScopeSession, "c", "3", true), sv(ScopeSession, "d", "4", true), sv(ScopeUser, "u", "5", true)}},
		{name: "persist", sql: "SET PERSIST max_connections = 500", kind: KindWrite, ac: -1,
			vars: []SetVar{sv(ScopePersist, "max_connections", "500", true)}},
		{name: "local sysvar", sql: "SET @@local.net_read_timeout=60", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "net_read_timeout", "60", true)}},
		{name: "dotted component variable", sql: "SET validate_password.length = 8", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "validate_password.length", "8", true)}},
		{name: "rails", sql: "SET NAMES utf8mb4, @@SESSION.sql_mode = CONCAT(CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'), ',NO_AUTO_VALUE_ON_ZERO'), @@SESSION.sql_auto_is_null = 0", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "names", "utf8mb4", true),
				sv(ScopeSession, "sql_mode", "CONCAT(CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'), ',NO_AUTO_VALUE_ON_ZERO')", false),
				sv(ScopeSession, "sql_auto_is_null", "0", true)}},
		{name: "subquery value", sql: "SET @c = (SELECT COUNT(*) FROM t)", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeUser, "c", "(SELECT COUNT(*) FROM t)", false)}},
		{name: "multi-statement sets", sql: "SET NAMES latin1; SET autocommit=0", kind: KindWrite, ac: 0,
			vars: []SetVar{sv(ScopeSession, "names", "latin1", true), sv(ScopeSession, "autocommit", "0", true)}},
		{name: "executable comment", sql: "/*!40101 SET NAMES utf8 */", kind: KindSet, ac: -1,
			vars: []SetVar{sv(ScopeSession, "names", "utf8", true)}},
		{name: "use", sql: "USE db1", kind: KindUse, db: "db1", ac: -1},
		{name: "use quoted", sql: "use `my``db`;", kind: KindUse, db: "my`db", ac: -1},
		{name: "use with comment", sql: "/* x */ USE /* y */ Shop", kind: KindUse, db: "Shop", ac: -1},
		{name: "hint reader", sql: "/* rwproxy:reader */ SELECT 1", kind: KindRead, hint: Hint{Target: HintReader}, ac: -1},
		{name: "hint writer", sql: "/*rwproxy:writer*/select 1", kind: KindRead, hint: Hint{Target: HintWriter}, ac: -1},
		{name: "hint hostgroup", sql: "/* rwproxy:hostgroup = 12 */ SELECT 1", kind: KindRead, hint: Hint{Target: HintHostgroup, Hostgroup: 12}, ac: -1},
		{name: "hint after other comment", sql: "-- x\n/* app */ /* RWPROXY:Reader */ SELECT 1", kind: KindRead, hint: Hint{Target: HintReader}, ac: -1},
		{name: "first hint wins", sql: "/* rwproxy:writer */ /* rwproxy:reader */ SELECT 1", kind: KindRead, hint: Hint{Target: HintWriter}, ac: -1},
		{name: "hint on parsed statement", sql: "/* rwproxy:hostgroup=3 */ SELECT * FROM t FOR UPDATE", kind: KindRead, hint: Hint{Target: HintHostgroup, Hostgroup: 3}, ac: -1},
		{name: "bad hint", sql: "/* rwproxy:hostgroup=x */ SELECT 1", kind: KindRead, ac: -1},
		{name: "hint after the first keyword", sql: "SELECT /* rwproxy:writer */ 1", kind: KindRead, hint: Hint{Target: HintWriter}, ac: -1},
		{name: "hint mid-statement", sql: "SELECT 1, /* rwproxy:writer */ 2", kind: KindRead, ac: -1},
	}
	cache := NewCache(100)
	for _, fast := range []bool{true, false} {
		c := newTestClassifier(cache, fast)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for range 2 { // the second call may come from the cache
					st := c.Classify(tc.sql)
					require.Equal(t, tc.kind, st.Kind)
					require.Equal(t, tc.vars, st.SetVars)
					require.Equal(t, tc.db, st.DB)
					require.Equal(t, tc.hint, st.Hint)
					require.Equal(t, tc.hint.Target != HintNone, st.Flags.Has(FlagHasHint))
					require.Equal(t, tc.ac, st.AutocommitValue)
				}
			})
		}
	}
}

// TestStmtDoesNotAlias checks that values survive reuse of the query buffer.
func TestStmtDoesNotAlias(t *testing.T) {
	for _, fast := range []bool{true, false} {
		c := newTestClassifier(NewCache(10), fast)
		buf := []byte("SET @v = 'abc', sql_mode = 'X'")
		st := c.Classify(string(buf))
		use := []byte("USE shop")
		st2 := c.Classify(string(use))
		for i := range buf {
			buf[i] = 'z'
		}
		for i := range use {
			use[i] = 'z'
		}
		require.Equal(t, "'abc'", st.SetVars[0].Value)
		require.Equal(t, "sql_mode", st.SetVars[1].Name)
		require.Equal(t, "shop", st2.DB)
	}
}

func TestParseErrorsCounter(t *testing.T) {
	c := NewClassifier(NewCache(10))
	before := ParseErrors()
	st := c.Classify("INSERT INTO t VALUES (1) RETURNING id")
	require.Equal(t, KindWrite, st.Kind)
	require.True(t, st.Flags.Has(FlagParseError))
	c.Classify("INSERT INTO t VALUES (2) RETURNING id") // cache hit counts too
	c.Classify("SHOW ALL SLAVES STATUS")                // fast path: the parser never sees it
	c.Classify("SELECT 1")
	require.Equal(t, uint64(2), ParseErrors()-before)

	slow := newTestClassifier(nil, false)
	before = ParseErrors()
	st = slow.Classify("SHOW ALL SLAVES STATUS") // rejected, then classified by the lexer
	require.Equal(t, KindShow, st.Kind)
	require.False(t, st.Flags.Has(FlagParseError))
	require.Equal(t, uint64(1), ParseErrors()-before)
}

func TestDigest(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"SELECT c FROM sbtest1 WHERE id=5012", "select c from sbtest1 where id = ?"},
		{"select  c\nfrom sbtest1 where ID = 7 ;", "select c from sbtest1 where id = ?"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3) AND k = -5", "select * from t where id in ( ... ) and k = ?"},
		{"SELECT a - 1 FROM t", "select a - ? from t"},
		{"INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')", "insert into t values ( ... )"},
		{"INSERT INTO t VALUES (1)", "insert into t values ( ? )"},
		{"INSERT INTO t VALUES (1), (2)", "insert into t values ( ? )"},
		{"SELECT `Col` FROM `My Table` /* c */ -- x\n WHERE a = 'x' # y", "select `col` from `my table` where a = ?"},
		{"SELECT * FROM t /*!50000 FOR UPDATE */", "select * from t for update"},
		{"SELECT * FROM t /*M!100100 LOCK IN SHARE MODE */", "select * from t lock in share mode"},
		{"SELECT /*+ MAX_EXECUTION_TIME(1) */ 1", "select ?"},
		{"/* rwproxy:reader */ SELECT @X, @@SESSION.sql_mode", "select @x , @@session.sql_mode"},
		{"SELECT 1; SELECT 2;", "select ? ; select ?"},
		{"SELECT x'0A', 0x1F, b'01', 1e3, .5, N'z'", "select ..."},
		{"SELECT * FROM t LIMIT 10, 20", "select * from t limit ..."},
		{"SELECT a<=>b, c:=d, e->>'$.f'", "select a <=> b , c := d , e ->> ?"},
		{"SELECT 1abc FROM t", "select 1abc from t"},
		{"", ""},
	}
	c := NewClassifier(nil)
	for _, tc := range tests {
		require.Equal(t, tc.want, c.Digest(tc.sql), "%q", tc.sql)
		require.Equal(t, tc.want, Normalize(tc.sql), "%q", tc.sql)
	}
}

func TestHugeStatement(t *testing.T) {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range 20000 {
		if i > 0 {
			b.WriteString(" + ")
		}
		b.WriteString("col" + strconv.Itoa(i))
	}
	b.WriteString(" FROM t FOR UPDATE")
	sql := b.String()
	cache := NewCache(10)
	c := NewClassifier(cache)
	for range 2 {
		st := c.Classify(sql)
		require.Equal(t, KindRead, st.Kind)
		require.Equal(t, FlagLockingRead, st.Flags)
		require.LessOrEqual(t, len(st.Digest), MaxDigestLen)
		require.True(t, strings.HasPrefix(st.Digest, "select col0 + col1 + "))
		require.False(t, strings.HasSuffix(st.Digest, " "))
	}
	require.Zero(t, cache.Len(), "a truncated digest is not a cache key")
	require.True(t, c.dg.buf == nil && c.dg.elems == nil, "huge buffers are not kept")
	require.Equal(t, c.Digest(sql), Normalize(sql))
}

func TestKindAndFlagsString(t *testing.T) {
	require.Equal(t, "write", Kind(0).String())
	require.Equal(t, "read", KindRead.String())
	require.Equal(t, "kind(200)", Kind(200).String())
	require.Equal(t, "-", Flags(0).String())
	require.Equal(t, "LockingRead,Multi", (FlagLockingRead | FlagMulti).String())
	require.Equal(t, "FastPath,0x8000000000000000", (FlagFastPath | 1<<63).String())
	require.Equal(t, "hostgroup", HintHostgroup.String())
	require.Equal(t, "next_txn", ScopeNextTxn.String())
	require.True(t, (FlagLockingRead | FlagMulti).Has(FlagMulti))
	require.False(t, FlagMulti.Has(FlagMulti|FlagLockingRead))
	require.Len(t, flagNames, numFlags)
	require.LessOrEqual(t, numFlags, 64)
}

func TestCacheBoundedAndConcurrent(t *testing.T) {
	cache := NewCache(300)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewClassifier(cache)
			for i := range 2000 {
				// Distinct digests (table names) that need the parser.
				sql := "SELECT * FROM t" + strconv.Itoa((i*7+g)%1000) + " WHERE id = 1 FOR UPDATE"
				st := c.Classify(sql)
				if st.Kind != KindRead || st.Flags != FlagLockingRead {
					t.Errorf("%q: %s %s", sql, st.Kind, st.Flags)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, cache.Len(), 300)
	require.Equal(t, 300, cache.Len())
	hits, misses := cache.Stats()
	require.Equal(t, uint64(16000), hits+misses)
}

func TestCacheClockKeepsHotEntries(t *testing.T) {
	cache := NewCache(4)
	c := NewClassifier(cache)
	hot := "SELECT * FROM hot FOR UPDATE"
	c.Classify(hot)
	for i := range 50 {
		c.Classify(hot) // keeps its reference bit set
		c.Classify("SELECT * FROM cold" + strconv.Itoa(i) + " FOR UPDATE")
	}
	hits, _ := cache.Stats()
	require.Equal(t, uint64(50), hits, "the hot statement must never be evicted")
	require.Equal(t, 4, cache.Len())
}

func TestNewCacheSizes(t *testing.T) {
	for _, size := range []int{-1, 0, 1, 7, 255, 256, 1000, 10000, 100000} {
		c := NewCache(size)
		want := size
		if size <= 0 {
			want = DefaultCacheSize
		}
		total := 0
		for i := range c.shards {
			require.Positive(t, c.shards[i].cap)
			total += c.shards[i].cap
		}
		require.Equal(t, want, total, "size %d", size)
		require.Equal(t, uint64(len(c.shards)-1), c.mask)
	}
}

// fuzzModes are the sql_mode values FuzzClassify's mode byte selects.
var fuzzModes = [...]string{"", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"}

// FuzzClassify checks that Classify never panics, that a parse error is
// always a write, that the cache reproduces the uncached result, and that
// whenever the fast path decides, the parser agrees, under each SQL mode
// that changes tokenization.
func FuzzClassify(f *testing.F) {
	for _, cl := range loadCorpus(f) {
		f.Add(cl.sql, uint8(0))
	}
	cache := NewCache(1000)
	fastc := newTestClassifier(cache, true)
	cached := newTestClassifier(cache, false)
	slow := newTestClassifier(nil, false)
	f.Fuzz(func(t *testing.T, sql string, mode uint8) {
		m := fuzzModes[int(mode)%len(fuzzModes)]
		fastc.SetSQLMode(m)
		cached.SetSQLMode(m)
		slow.SetSQLMode(m)
		a := fastc.Classify(sql)
		b := slow.Classify(sql)
		c := cached.Classify(sql)
		for _, st := range []Stmt{a, b, c} {
			if st.Kind >= numKinds {
				t.Fatalf("%q: bad kind %d", sql, st.Kind)
			}
			if st.Flags.Has(FlagParseError) && st.Kind != KindWrite {
				t.Fatalf("%q: parse error yields %s", sql, st.Kind)
			}
		}
		// The cache is keyed by the digest, which replaces literals. A
		// statement the parser rejects only because of a literal (e.g. 'a' 1
		// versus 'a' 'b') shares the digest of a valid one; then either
		// side may get the other's result. That is harmless (the kinds only
		// differ for statements the server rejects too, or in the safe
		// direction, KindWrite). Otherwise the cache must be exact.
		if c.Digest != b.Digest {
			t.Fatalf("%q: cached digest %q, uncached %q", sql, c.Digest, b.Digest)
		}
		if !c.Flags.Has(FlagParseError) && !b.Flags.Has(FlagParseError) && (c.Kind != b.Kind || c.Flags != b.Flags) {
			t.Fatalf("%q: cached %s %s, uncached %s %s", sql, c.Kind, c.Flags, b.Kind, b.Flags)
		}
		if a.Flags.Has(FlagFastPath) && (a.Kind != b.Kind || a.Flags&^FlagFastPath != b.Flags || a.Hint != b.Hint) {
			t.Fatalf("%q (%s): fast path %s %s, parser %s %s", sql, m, a.Kind, a.Flags, b.Kind, b.Flags)
		}
	})
}

// A session repeats a few statement shapes with different literals:
// Digest returns the same string for a repeated digest without allocating,
// and a new one when the shape changes.
func TestDigestRepeatedShapeNoAlloc(t *testing.T) {
	c := NewClassifier(nil)
	first := c.Digest("SELECT c FROM sbtest1 WHERE id=1")
	allocs := testing.AllocsPerRun(100, func() {
		if d := c.Digest("SELECT c FROM sbtest1 WHERE id=4711"); d != first {
			t.Fatalf("digest %q, want %q", d, first)
		}
	})
	require.Zero(t, allocs, "a repeated digest allocates nothing")
	require.Equal(t, "select c from sbtest1 where id = ?", first)
	require.Equal(t, "select c from sbtest2 where id = ?", c.Digest("SELECT c FROM sbtest2 WHERE id=3"))
	require.Equal(t, first, c.Digest("SELECT c FROM sbtest1 WHERE id=2"))
}
