package session

import (
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

func TestCommandOf(t *testing.T) {
	for sql, want := range map[string]string{
		"select 1":                       "SELECT",
		"/* app */ SELECT * FROM t":      "SELECT",
		"(SELECT 1) UNION (SELECT 2)":    "SELECT",
		"with x as (select 1) select 1":  "SELECT",
		"insert into t values (1)":       "INSERT",
		"  -- note\nUPDATE t SET a = 1":  "UPDATE",
		"start transaction read only":    "START_TRANSACTION",
		"create unique index i on t (a)": "CREATE_INDEX",
		"CREATE TABLE t (a int)":         "CREATE_TABLE",
		"drop schema s":                  "DROP_DATABASE",
		"alter table t add column b int": "ALTER_TABLE",
		"desc t":                         "DESCRIBE",
		"frobnicate":                     "UNKNOWN",
		"":                               "UNKNOWN",
		"create procedure p() begin end": "UNKNOWN",
	} {
		require.Equal(t, want, commandNames[commandOf(sql, false)], sql)
	}
	require.Equal(t, "SELECT_FOR_UPDATE", commandNames[commandOf("select * from t for update", true)])
	allocs := testing.AllocsPerRun(100, func() { commandOf("select a from t where id = 1", false) })
	require.Zero(t, allocs, "classifying a statement allocates nothing")
}

func TestCommandCountersBuckets(t *testing.T) {
	var cc CommandCounters
	cc.record(1, 50*time.Microsecond)
	cc.record(1, 2*time.Millisecond)
	cc.record(1, time.Minute)
	cc.record(-1, time.Second) // not a statement: ignored
	require.Equal(t, uint64(3), cc[1].Count.Load())
	require.Equal(t, uint64(1), cc[1].Buckets[0].Load(), "<= 100us")
	require.Equal(t, uint64(1), cc[1].Buckets[3].Load(), "<= 5ms")
	require.Equal(t, uint64(1), cc[1].Buckets[len(CommandBucketsUs)].Load(), "INF")
	require.Equal(t, uint64(60_002_050), cc[1].TotalTimeUs.Load())
}

// Recording a statement for the processlist allocates nothing.
func TestPublishProcAllocatesNothing(t *testing.T) {
	s := &Session{}
	sql := "SELECT * FROM t WHERE id = 1"
	allocs := testing.AllocsPerRun(100, func() { s.publishProc(20, sql) })
	require.Zero(t, allocs)
	require.Equal(t, sql, string(s.proc.info[:s.proc.infoLen]))
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'x'
	}
	s.publishProc(10, string(long))
	require.Equal(t, maxProcInfo, s.proc.infoLen, "cut to maxProcInfo")
}

// The per-statement cost of stats_mysql_commands_counters and the
// processlist (allocs/op must stay 0).
func BenchmarkCommandOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		commandOf("/* app */ select c from sbtest1 where id = 42", false)
	}
}

func BenchmarkPublishProc(b *testing.B) {
	s := &Session{}
	b.ReportAllocs()
	for b.Loop() {
		s.publishProc(20, "select c from sbtest1 where id = 42")
	}
}

// stats_mysql_errors keeps at most maxErrorKeys combinations and counts
// the errors of further ones as dropped.
func TestErrorStatsBounded(t *testing.T) {
	e := NewErrorStats()
	client := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5000}
	me := &mysql.MyError{Code: 1146, Message: "Table 'x' doesn't exist"}
	e.record(10, "127.0.0.1:3306", "app", client, "db", me)
	e.record(10, "127.0.0.1:3306", "app", client, "db", me)
	for i := range maxErrorKeys + 5 {
		e.record(i, "127.0.0.1:3306", "app", client, "db", me)
	}
	got, dropped := e.Snapshot()
	require.Len(t, got, maxErrorKeys)
	require.Equal(t, uint64(5), dropped, "hostgroup 10 was already kept")
	require.Equal(t, uint64(3), got[0].Count, "most frequent first")
	require.Equal(t, "10.0.0.1", got[0].Client)
}

// lookupCommand finds every class name and alias (its search runs within
// the keys of the first letter only), and nothing else.
func TestLookupCommandEveryKey(t *testing.T) {
	for _, k := range commandKeys {
		require.Equal(t, k.idx, lookupCommand([]byte(k.key)), k.key)
	}
	for _, k := range []string{"", "A", "SELECTX", "ZZZ", "_SELECT", "select"} {
		require.Zero(t, lookupCommand([]byte(k)), k)
	}
}
