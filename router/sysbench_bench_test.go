package router

import (
	"syscall"
	"testing"
	"time"
)

// benchStmt is one statement of a benchmark's table, by the sub-benchmark
// name it runs under.
type benchStmt struct{ name, sql string }

// sysbenchText is what sysbench's oltp_point_select, oltp_read_only and
// oltp_read_write send with --db-ps-mode=disable (the text protocol), one
// statement of each kind, with the literals of one iteration. It is the
// one table of sysbench's statements: the classifier benchmarks take theirs
// from it (sysbenchStmt).
var sysbenchText = []benchStmt{
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

// sysbenchStmt is the row of sysbenchText named name.
func sysbenchStmt(name string) benchStmt {
	for _, bc := range sysbenchText {
		if bc.name == name {
			return bc
		}
	}
	panic("no sysbench statement " + name)
}

// BenchmarkSysbenchText is the classifier's work for each text statement
// of sysbench as a session with digest statistics does it (the
// classification and the digest, sessionClassify), the cache shared by the
// sessions warm; two texts of the statement alternate, as sysbench's
// literals change. The *_event cases run every statement of one
// oltp_read_only / oltp_read_write event in turn (ns/op per statement).
func BenchmarkSysbenchText(b *testing.B) {
	for _, bc := range sysbenchText {
		b.Run(bc.name, func(b *testing.B) {
			qs := []string{bc.sql, otherLiterals(bc.sql)}
			benchClassify(b, qs)
		})
	}
	for _, ev := range []struct {
		name  string
		stmts []string
	}{{"read_only_event", readOnlyEvent()}, {"read_write_event", readWriteEvent()}} {
		b.Run(ev.name, func(b *testing.B) {
			var qs []string
			for i := range 2 {
				for _, q := range ev.stmts {
					if i == 1 {
						q = otherLiterals(q)
					}
					qs = append(qs, q)
				}
			}
			benchClassify(b, qs)
		})
	}
}

func benchClassify(b *testing.B, qs []string) {
	c := NewClassifier(NewCache(0))
	for _, q := range qs {
		sessionClassify(c, q) // warm the cache
	}
	b.ReportAllocs()
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		if st := sessionClassify(c, qs[i%len(qs)]); st.Digest == "" && st.Kind != KindBegin && st.Kind != KindCommit {
			b.Fatalf("%q: no digest", qs[i%len(qs)])
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(i), "cpu-ns/op")
}

// cpuTime is the process's user and system CPU time so far: on a machine
// shared with other jobs it measures the work, where ns/op measures the
// wait for a core as well.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// otherLiterals is sql with its numbers changed (the same digest).
func otherLiterals(sql string) string {
	out := []byte(sql)
	for i, ch := range out {
		if ch >= '0' && ch <= '8' {
			out[i] = ch + 1
		}
	}
	return string(out)
}

// readOnlyEvent is one oltp_read_only event: BEGIN, 10 point selects, the
// four range selects, COMMIT.
func readOnlyEvent() []string {
	q := []string{"BEGIN"}
	for i := range 10 {
		q = append(q, "SELECT c FROM sbtest1 WHERE id="+string(rune('1'+i%9))+"012")
	}
	for _, name := range []string{"simple_range", "sum_range", "order_range", "distinct_range"} {
		q = append(q, sysbenchStmt(name).sql)
	}
	return append(q, "COMMIT")
}

// readWriteEvent is one oltp_read_write event: oltp_read_only's and the
// four writes before COMMIT.
func readWriteEvent() []string {
	q := readOnlyEvent()
	q = q[:len(q)-1]
	for _, name := range []string{"index_update", "non_index_update", "delete", "insert"} {
		q = append(q, sysbenchStmt(name).sql)
	}
	return append(q, "COMMIT")
}
