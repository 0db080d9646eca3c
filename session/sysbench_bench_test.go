package session

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
	"github.com/rwproxy/rwproxy/router"
)

// The statements of sysbench's OLTP workloads (oltp_common.lua), as
// templates with one %d per literal sysbench draws; the text protocol
// sends them with the literals in, the prepared one with ? in their place.
const (
	sbPointSelect    = "SELECT c FROM sbtest%d WHERE id=%d"
	sbSimpleRange    = "SELECT c FROM sbtest%d WHERE id BETWEEN %d AND %d"
	sbSumRange       = "SELECT SUM(k) FROM sbtest%d WHERE id BETWEEN %d AND %d"
	sbOrderRange     = "SELECT c FROM sbtest%d WHERE id BETWEEN %d AND %d ORDER BY c"
	sbDistinctRange  = "SELECT DISTINCT c FROM sbtest%d WHERE id BETWEEN %d AND %d ORDER BY c"
	sbIndexUpdate    = "UPDATE sbtest%d SET k=k+1 WHERE id=%d"
	sbNonIndexUpdate = "UPDATE sbtest%d SET c='%d-44393936017-82224935128-83006542787-14447452286-24227716919-93391473735-23290563931-67367355412-58298063402' WHERE id=%d"
	sbDelete         = "DELETE FROM sbtest%d WHERE id=%d"
	sbInsert         = "INSERT INTO sbtest%d (id, k, c, pad) VALUES (%d, %d, '68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-25459966574-28203206787-41238978918-%d', '22195207048-70116052123-74140395089-76317954521-%d')"
)

// sbWorkload is one sysbench workload: the statements of one event
// (oltp_read_only and oltp_read_write run theirs in BEGIN ... COMMIT).
type sbWorkload struct {
	name  string
	trx   bool
	stmts []string // templates
}

func sbWorkloads() []sbWorkload {
	reads := make([]string, 0, 14)
	for range 10 {
		reads = append(reads, sbPointSelect)
	}
	reads = append(reads, sbSimpleRange, sbSumRange, sbOrderRange, sbDistinctRange)
	return []sbWorkload{
		{"point_select", false, []string{sbPointSelect}},
		{"read_only", true, reads},
		{"read_write", true, append(reads[:len(reads):len(reads)], sbIndexUpdate, sbNonIndexUpdate, sbDelete, sbInsert)},
	}
}

// sbText fills template's literals from i as sysbench draws them (a table
// of 4, ids of 10,000 rows, ranges of 100): every call with another i is
// another text of the same digest.
func sbText(template string, i int) string {
	table, id := 1+i%4, 1+(i*7919)%10000
	args := []any{table, id, id + 99, id + 1, id + 2}
	n := 0
	for j := 0; j+1 < len(template); j++ {
		if template[j] == '%' && template[j+1] == 'd' {
			n++
		}
	}
	return fmt.Sprintf(template, args[:n]...)
}

// sbPrepared is template as sysbench prepares it (?, one table).
func sbPrepared(template string) (string, int) {
	n := 0
	out := make([]byte, 0, len(template))
	for j := 0; j < len(template); j++ {
		if template[j] == '%' && j+1 < len(template) && template[j+1] == 'd' {
			if n == 0 {
				out = append(out, '1') // the table
			} else {
				out = append(out, '?')
			}
			n++
			j++
			continue
		}
		out = append(out, template[j])
	}
	return string(out), n - 1
}

// sysbenchSession is pointSelectSession with the application's shared
// classification cache and read-your-writes tracker (internal/app), and
// servers that answer every SELECT with one row.
func sysbenchSession(b *testing.B) *client.Conn {
	b.Helper()
	h := newQP(b)
	reserve(b, h, func(d *Deps) {
		d.Digests = NewDigests(10000)
		d.Cache = router.NewCache(0)
		d.Applied = NewApplied()
	})
	for _, s := range []*fakemysql.Server{h.writer, h.r1, h.r2} {
		s.On("select", fakemysql.Rows([]string{"c"}, []any{"value"}))
	}
	return h.connect(b)
}

// sbTexts is n events' statements of w, literals drawn per event, made
// before the timer runs.
func sbTexts(w sbWorkload, n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		if w.trx {
			out[i] = append(out[i], "BEGIN")
		}
		for j, t := range w.stmts {
			out[i] = append(out[i], sbText(t, i*len(w.stmts)+j))
		}
		if w.trx {
			out[i] = append(out[i], "COMMIT")
		}
	}
	return out
}

// BenchmarkQPSysbenchText runs sysbench's events through a session with
// the text protocol (--db-ps-mode=disable), client and fake servers
// included; ns/stmt is per statement. BenchmarkQPSysbenchPrepared is the
// same with prepared statements: the difference is what a text statement
// costs that an execute does not.
func BenchmarkQPSysbenchText(b *testing.B) {
	for _, w := range sbWorkloads() {
		b.Run(w.name, func(b *testing.B) {
			c := sysbenchSession(b)
			events := sbTexts(w, 256)
			stmts := 0
			b.ReportAllocs()
			i := 0
			usr, sys := rusage()
			for b.Loop() {
				for _, q := range events[i%len(events)] {
					if _, err := c.Execute(q); err != nil {
						b.Fatal(q, err)
					}
				}
				stmts += len(events[i%len(events)])
				i++
			}
			reportStmts(b, stmts, usr, sys)
		})
	}
}

// rusage is the process's user and system CPU time so far.
func rusage() (usr, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// reportStmts reports per statement: the wall time, and the user and
// system CPU time since usr0, sys0 of the whole process (client, session
// and fake servers: the difference between two versions of the session
// is the session's). On a machine shared with other jobs the CPU times
// measure the work, where ns/stmt measures the wait for a core as well.
func reportStmts(b *testing.B, n int, usr0, sys0 time.Duration) {
	usr, sys := rusage()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/stmt")
	b.ReportMetric(float64(usr-usr0)/float64(n), "usr-ns/stmt")
	b.ReportMetric(float64(sys-sys0)/float64(n), "sys-ns/stmt")
}

func BenchmarkQPSysbenchPrepared(b *testing.B) {
	for _, w := range sbWorkloads() {
		b.Run(w.name, func(b *testing.B) {
			c := sysbenchSession(b)
			var stmts []*client.Stmt
			var nargs []int
			prep := func(q string, n int) {
				st, err := c.Prepare(q)
				if err != nil {
					b.Fatal(q, err)
				}
				b.Cleanup(func() { _ = st.Close() })
				stmts, nargs = append(stmts, st), append(nargs, n)
			}
			if w.trx {
				prep("BEGIN", 0)
			}
			for _, t := range w.stmts {
				prep(sbPrepared(t))
			}
			if w.trx {
				prep("COMMIT", 0)
			}
			args := []any{5003, 5102, 5004, 5005}
			n := 0
			b.ReportAllocs()
			usr, sys := rusage()
			for b.Loop() {
				for j, st := range stmts {
					r, err := st.Execute(args[:nargs[j]]...)
					if err != nil {
						b.Fatal(err)
					}
					if r.Status&mysql.SERVER_STATUS_IN_TRANS == 0 && w.trx && j > 0 && j < len(stmts)-1 {
						b.Fatal("the transaction ended early")
					}
				}
				n += len(stmts)
			}
			reportStmts(b, n, usr, sys)
		})
	}
}

// BenchmarkSetListInSync is the check sync makes before every statement
// that takes a pooled connection: the session's variables (here those a
// utf8mb4 client's handshake sets) against the connection's, which match.
func BenchmarkSetListInSync(b *testing.B) {
	want := map[string]string{"character_set_client": "utf8mb4", "character_set_connection": "utf8mb4",
		"character_set_results": "utf8mb4"}
	have := copyVars(want)
	b.ReportAllocs()
	for b.Loop() {
		if setList(want, have) != "" {
			b.Fatal("in sync: nothing to set")
		}
	}
}

// BenchmarkTextRoute is the session's own work for a text statement
// between reading it and taking a connection, without I/O: classification
// and digest (as runQuery does it, benchClassify), then route (rules,
// routing, statistics class, processlist), digest statistics on, for the
// statements of sysbench's events with their literals drawn per event.
func BenchmarkTextRoute(b *testing.B) {
	for _, w := range sbWorkloads() {
		b.Run(w.name, func(b *testing.B) {
			rt := &Routing{ReaderOf: map[int]int{10: 20}}
			s := &Session{d: &Deps{Routing: func() *Routing { return rt }, Stats: &Stats{}, Digests: NewDigests(10000)},
				cls: router.NewClassifier(router.NewCache(0)), user: config.User{Username: "app", DefaultHostgroup: 10}}
			s.st.initCharset(int(mysql.DEFAULT_COLLATION_ID))
			var qs []string
			for _, ev := range sbTexts(w, 64) {
				qs = append(qs, ev...)
			}
			b.ReportAllocs()
			i := 0
			usr, sys := rusage()
			for b.Loop() {
				sql := qs[i%len(qs)]
				st := s.benchClassify(sql)
				var r request
				if _, me := s.route(&r, &st, sql); me != nil || r.digest == "" {
					b.Fatal(sql, me)
				}
				i++
			}
			u, y := rusage()
			b.ReportMetric(float64(u+y-usr-sys)/float64(i), "cpu-ns/op")
		})
	}
}
