package router

import "testing"

// sysbenchText is what sysbench's oltp_point_select, oltp_read_only and
// oltp_read_write send with --db-ps-mode=disable (the text protocol), one
// statement of each kind, with the literals of one iteration.
var sysbenchText = []struct{ name, sql string }{
	{"point_select", "SELECT c FROM sbtest1 WHERE id=5012"},
	{"simple_range", "SELECT c FROM sbtest3 WHERE id BETWEEN 4981 AND 5080"},
	{"sum_range", "SELECT SUM(k) FROM sbtest2 WHERE id BETWEEN 5011 AND 5110"},
	{"order_range", "SELECT c FROM sbtest4 WHERE id BETWEEN 4989 AND 5088 ORDER BY c"},
	{"distinct_range", "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 5003 AND 5102 ORDER BY c"},
	{"begin", "BEGIN"},
	{"commit", "COMMIT"},
	{"index_update", "UPDATE sbtest2 SET k=k+1 WHERE id=5007"},
	{"non_index_update", "UPDATE sbtest3 SET c='70958488438-44393936017-82224935128-83006542787-14447452286-24227716919-93391473735-23290563931-67367355412-58298063402' WHERE id=4995"},
	{"delete", "DELETE FROM sbtest4 WHERE id=5021"},
	{"insert", "INSERT INTO sbtest4 (id, k, c, pad) VALUES (5021, 5018, '44216718553-32373286430-63929364640-08981683937-78598433693-80398929064-91693880484-06476346587-61766838329-57585720773', '76386358542-25717449946-12919282358-54862917131-11962545211')"},
}

// BenchmarkSysbenchText is the classifier's work for each text statement
// of sysbench as a session with digest statistics does it (Classify, then
// Digest when the classification has none: the fast path computes none),
// with the cache shared by the sessions warm.
func BenchmarkSysbenchText(b *testing.B) {
	for _, bc := range sysbenchText {
		b.Run(bc.name, func(b *testing.B) {
			c := NewClassifier(NewCache(0))
			c.Classify(bc.sql) // warm the cache
			b.ReportAllocs()
			for b.Loop() {
				st := c.Classify(bc.sql)
				if st.Digest == "" {
					st.Digest = c.Digest(bc.sql)
				}
			}
		})
	}
}
