package router

import "testing"

// Statements the lexer fast path classifies (target ≤ 200 ns/op, 0 allocs/op);
// sysbench's are those of sysbenchText.
var benchFast = []benchStmt{
	sysbenchStmt("point_select"),
	sysbenchStmt("order_range"),
	sysbenchStmt("begin"),
	sysbenchStmt("commit"),
	{"start_txn_ro", "START TRANSACTION READ ONLY"},
	{"show_warnings", "SHOW WARNINGS"},
	{"hinted_select", "/* rwproxy:reader */ SELECT c FROM sbtest1 WHERE id=5012"},
	{"hint_after_keyword", "SELECT /* rwproxy:writer */ c FROM sbtest1 WHERE id=5012"},
	{"sqlcommenter_end", "SELECT c FROM sbtest1 WHERE id=5012 /*action='show',controller='user',rwproxy='reader',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/"},
	{"hibernate_select", "/* load com.example.User */ select u1_0.id,u1_0.email,u1_0.name,u1_0.created_at from users u1_0 where u1_0.id=42"},
}

// Statements that need the parser (cached target ≤ 1 µs/op); sysbench's
// are those of sysbenchText.
var benchParsed = []benchStmt{
	{"select_for_update", "SELECT c FROM sbtest1 WHERE id=5012 FOR UPDATE"},
	{"version_comment", "select @@version_comment limit 1"},
	sysbenchStmt("index_update"),
	sysbenchStmt("insert"),
	{"hibernate_for_update", "/* load com.example.User */ select u1_0.id,u1_0.email,u1_0.name,u1_0.created_at from users u1_0 where u1_0.id=42 for update"},
}

func BenchmarkClassifyFastPath(b *testing.B) {
	for _, bc := range benchFast {
		b.Run(bc.name, func(b *testing.B) {
			c := NewClassifier(NewCache(0))
			if st := c.Classify(bc.sql); !st.Flags.Has(FlagFastPath) {
				b.Fatalf("%q did not take the fast path: %s %s", bc.sql, st.Kind, st.Flags)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(bc.sql)
			}
		})
	}
}

func BenchmarkClassifyCachedDigest(b *testing.B) {
	for _, bc := range benchParsed {
		b.Run(bc.name, func(b *testing.B) {
			cache := NewCache(0)
			c := NewClassifier(cache)
			c.Classify(bc.sql) // warm the cache
			hits, _ := cache.Stats()
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(bc.sql)
			}
			if h, _ := cache.Stats(); h == hits {
				b.Fatal("no cache hits")
			}
		})
	}
}

func BenchmarkClassifyParse(b *testing.B) {
	for _, bc := range benchParsed {
		b.Run(bc.name, func(b *testing.B) {
			c := NewClassifier(nil) // no cache: every call parses
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(bc.sql)
			}
		})
	}
}

// BenchmarkClassifyCachedParallel measures the shared cache under
// concurrent sessions (one Classifier per goroutine, as in the proxy).
func BenchmarkClassifyCachedParallel(b *testing.B) {
	cache := NewCache(0)
	sql := benchParsed[0].sql
	NewClassifier(cache).Classify(sql)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := NewClassifier(cache)
		for pb.Next() {
			c.Classify(sql)
		}
	})
}

func BenchmarkDigest(b *testing.B) {
	c := NewClassifier(nil)
	for _, bc := range benchParsed[2:4] {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.dg.normalize(bc.sql, 0)
			}
		})
	}
}

// BenchmarkDigestPointSelect is the digest a session computes for a
// fast-path statement when digest statistics are on (the default): the
// same shape with a different literal each time, as sysbench sends it.
func BenchmarkDigestPointSelect(b *testing.B) {
	c := NewClassifier(nil)
	qs := []string{"SELECT c FROM sbtest1 WHERE id=4711", "SELECT c FROM sbtest1 WHERE id=815"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = c.Digest(qs[i&1])
		i++
	}
}
