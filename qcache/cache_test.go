package qcache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const sec = int64(1e9)

func key(sql string) *Key { return &Key{User: "app", DB: "shop", SQL: sql} }

// fill runs one complete fill of k with the given packets.
func fill(t *testing.T, c *Cache, k *Key, tables []string, src Source, now, ttl int64, pkts ...string) bool {
	t.Helper()
	f, wait := c.Begin(k)
	require.Nil(t, wait)
	for _, p := range pkts {
		f.Add([]byte(p))
	}
	return c.Commit(f, tables, src, now, ttl)
}

func packets(t *testing.T, e *Entry) []string {
	t.Helper()
	var out []string
	require.NoError(t, e.Packets(func(p []byte) error { out = append(out, string(p)); return nil }))
	return out
}

func TestHitReplaysThePacketsInOrder(t *testing.T) {
	c := New(1 << 20)
	k := key("SELECT * FROM t")
	require.Nil(t, c.Get(k, nil, 0, 0))
	require.True(t, fill(t, c, k, []string{"shop.t"}, Source{}, 0, sec, "cols", "row1", "", "eof"))
	e := c.Get(key("SELECT * FROM t"), nil, 0, 1)
	require.NotNil(t, e)
	require.Equal(t, []string{"cols", "row1", "", "eof"}, packets(t, e))
	s := c.Stats()
	require.Equal(t, uint64(1), s.Hits)
	require.Equal(t, uint64(1), s.Misses)
	require.Equal(t, uint64(1), s.Stores)
	require.Equal(t, 1, s.Entries)
}

func TestKeyFieldsSeparateEntries(t *testing.T) {
	c := New(1 << 20)
	base := Key{User: "app", DB: "shop", SQL: "SELECT 1", Vars: 1, Class: 1}
	require.True(t, fill(t, c, &base, []string{"shop.t"}, Source{}, 0, sec, "x"))
	for name, k := range map[string]Key{
		"user":   {User: "other", DB: "shop", SQL: "SELECT 1", Vars: 1, Class: 1},
		"db":     {User: "app", DB: "shop2", SQL: "SELECT 1", Vars: 1, Class: 1},
		"vars":   {User: "app", DB: "shop", SQL: "SELECT 1", Vars: 2, Class: 1},
		"class":  {User: "app", DB: "shop", SQL: "SELECT 1", Vars: 1, Class: 2},
		"sql":    {User: "app", DB: "shop", SQL: "SELECT 2", Vars: 1, Class: 1},
		"params": {User: "app", DB: "shop", SQL: "SELECT 1", Vars: 1, Class: 1, Params: []byte{1}},
	} {
		require.Nil(t, c.Get(&k, nil, 0, 1), name)
	}
	require.NotNil(t, c.Get(&base, nil, 0, 1))
}

func TestTTLExpires(t *testing.T) {
	c := New(1 << 20)
	k := key("SELECT 1")
	require.True(t, fill(t, c, k, []string{"shop.t"}, Source{}, 10*sec, sec, "x"))
	require.NotNil(t, c.Get(k, nil, 0, 11*sec-1))
	require.Nil(t, c.Get(k, nil, 0, 11*sec))
	s := c.Stats()
	require.Equal(t, uint64(1), s.Expired)
	require.Equal(t, 0, s.Entries)
	require.Zero(t, s.Bytes)
}

func TestWriteInvalidatesEveryEntryThatReadTheTable(t *testing.T) {
	c := New(1 << 20)
	a, b, other := key("SELECT a FROM t"), key("SELECT * FROM t JOIN u"), key("SELECT * FROM u")
	require.True(t, fill(t, c, a, []string{"shop.t"}, Source{}, 0, sec, "a"))
	require.True(t, fill(t, c, b, []string{"shop.t", "shop.u"}, Source{}, 0, sec, "b"))
	require.True(t, fill(t, c, other, []string{"shop.u"}, Source{}, 0, sec, "u"))
	c.Invalidate([]string{"shop.t"})
	require.Nil(t, c.Get(a, nil, 0, 1))
	require.Nil(t, c.Get(b, nil, 0, 1))
	require.NotNil(t, c.Get(other, nil, 0, 1))
	require.Equal(t, uint64(2), c.Stats().Invalidated)
	c.InvalidateAll()
	require.Nil(t, c.Get(other, nil, 0, 1))
	require.Zero(t, c.Stats().Bytes)
}

// A read that began before a write to its table completed may hold the
// data from before the write: it must not be stored.
func TestFillRacingAWriteIsNotStored(t *testing.T) {
	c := New(1 << 20)
	k := key("SELECT * FROM t")
	f, _ := c.Begin(k)
	f.Add([]byte("old row"))
	c.Invalidate([]string{"shop.t"}) // the write completes while the read is in flight
	require.False(t, c.Commit(f, []string{"shop.t"}, Source{}, 0, sec))
	require.Nil(t, c.Get(k, nil, 0, 1))
	require.Equal(t, uint64(1), c.Stats().NotStored)

	// A write to another table does not matter; one before the fill began neither.
	f, _ = c.Begin(k)
	c.Invalidate([]string{"shop.u"})
	require.True(t, c.Commit(f, []string{"shop.t"}, Source{}, 0, sec))

	f, _ = c.Begin(k)
	c.InvalidateAll()
	require.False(t, c.Commit(f, []string{"shop.t"}, Source{}, 0, sec))
}

func TestLRUEvictsLeastRecentlyUsedWithinTheLimit(t *testing.T) {
	c := New(64 << 10)
	row := strings.Repeat("r", 3000)
	var keys []*Key
	for i := range 40 {
		k := key(fmt.Sprintf("SELECT %d", i))
		keys = append(keys, k)
		require.True(t, fill(t, c, k, []string{"shop.t"}, Source{}, 0, 100*sec, row))
		require.NotNil(t, c.Get(keys[0], nil, 0, 1), "the entry used at every step stays") // keeps keys[0] hot
		require.LessOrEqual(t, c.Stats().Bytes, int64(64<<10))
	}
	s := c.Stats()
	require.Positive(t, s.Evicted)
	require.Less(t, s.Entries, 40)
	require.Nil(t, c.Get(keys[1], nil, 0, 1), "the oldest unused entry went first")
	require.NotNil(t, c.Get(keys[39], nil, 0, 1))

	c.SetLimit(8 << 10)
	require.LessOrEqual(t, c.Stats().Bytes, int64(8<<10))
	c.Purge()
	require.Zero(t, c.Stats().Entries)
}

func TestOversizedResultIsNotStored(t *testing.T) {
	c := New(64 << 10) // entries up to 8 KiB
	k := key("SELECT big")
	require.False(t, fill(t, c, k, []string{"shop.t"}, Source{}, 0, sec, strings.Repeat("x", 9000)))
	require.Nil(t, c.Get(k, nil, 0, 1))
	require.Zero(t, c.Stats().Bytes)
}

// A scope that wrote a table gets only entries of that table that saw the
// write: filled after it, on the writer or by its own read-your-writes read.
func TestReadYourWritesRule(t *testing.T) {
	c := New(1 << 20)
	var mine Writes
	const me, someone = 7, 8
	k := key("SELECT * FROM t")
	require.True(t, fill(t, c, k, []string{"shop.t"}, Source{}, 0, 100*sec, "before"))
	seq := c.Invalidate([]string{"shop.t"})
	mine.Note([]string{"shop.t"}, seq, false)

	tests := []struct {
		name string
		src  Source
		want bool
	}{
		{"replica read by another scope", Source{}, false},
		{"replica read-your-writes read of another scope", Source{RYW: true, Scope: someone}, false},
		{"replica read-your-writes read of this scope", Source{RYW: true, Scope: me}, true},
		{"writer read", Source{Writer: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, fill(t, c, k, []string{"shop.t"}, tc.src, 0, 100*sec, "after"))
			require.Equal(t, tc.want, c.Get(k, &mine, me, 1) != nil)
			require.NotNil(t, c.Get(k, nil, 0, 1), "a scope that did not write uses it")
			var other Writes
			other.Note([]string{"shop.u"}, seq, false)
			require.NotNil(t, c.Get(k, &other, someone, 1), "a write to another table does not matter")
		})
	}

	// An entry filled on the writer before the scope's write was invalidated by it.
	require.True(t, fill(t, c, k, []string{"shop.t"}, Source{Writer: true}, 0, 100*sec, "x"))
	seq = c.Invalidate([]string{"shop.t"})
	mine.Note(nil, seq, true)
	require.Nil(t, c.Get(k, &mine, me, 1))
}

func TestWritesOverflowCountsEveryTable(t *testing.T) {
	var w Writes
	for i := range maxWriteRecords + 1 {
		w.Note([]string{fmt.Sprintf("s.t%d", i)}, uint64(i+1), false)
	}
	require.Equal(t, uint64(maxWriteRecords+1), w.seqOf("s.never_written"))
}

func TestConcurrentFillOfTheSameKeyWaits(t *testing.T) {
	c := New(1 << 20)
	k := key("SELECT * FROM t")
	f, wait := c.Begin(k)
	require.NotNil(t, f)
	g, wait2 := c.Begin(k)
	require.Nil(t, g)
	require.NotNil(t, wait2)
	select {
	case <-wait2:
		t.Fatal("closed before the fill ended")
	default:
	}
	f.Add([]byte("row"))
	require.True(t, c.Commit(f, []string{"shop.t"}, Source{}, 0, sec))
	<-wait2 // closed by Commit
	require.NotNil(t, c.Get(k, nil, 0, 1))
	require.Nil(t, wait)
	require.Equal(t, uint64(1), c.Stats().Waits)

	f, _ = c.Begin(k)
	c.Abort(f)
	f2, wait3 := c.Begin(k)
	require.NotNil(t, f2, "an aborted fill frees the key")
	require.Nil(t, wait3)
	c.Abort(f2)
}

func TestTrackedTablesAreBounded(t *testing.T) {
	c := New(1 << 20)
	k := key("SELECT * FROM t")
	f, _ := c.Begin(k)
	for i := range maxTrackedTables + 1 {
		c.Invalidate([]string{fmt.Sprintf("s.t%d", i)})
	}
	require.LessOrEqual(t, c.Stats().TrackedTables, maxTrackedTables)
	require.False(t, c.Commit(f, []string{"shop.t"}, Source{}, 0, sec),
		"after the map was cleared every table counts as written")
}

func BenchmarkGetHit(b *testing.B) {
	c := New(64 << 20)
	k := &Key{User: "sbtest", DB: "sbtest", SQL: "SELECT c FROM sbtest1 WHERE id=4242", Vars: 42, Class: 3}
	f, _ := c.Begin(k)
	f.Add(make([]byte, 200))
	c.Commit(f, []string{"sbtest.sbtest1"}, Source{}, 0, 1e18)
	var w Writes
	b.ReportAllocs()
	for b.Loop() {
		if c.Get(k, &w, 1, 1) == nil {
			b.Fatal("miss")
		}
	}
}
