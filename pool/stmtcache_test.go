package pool_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/pool"
)

// fill puts statements q1..qn with ids 1..n, q1 the least recently used.
func fill(t *testing.T, c *pool.StmtCache, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		require.Empty(t, c.Put(fmt.Sprintf("q%d", i), &pool.Stmt{ID: uint32(i)}))
	}
}

// cached lists the ids still in c, for queries q1..qn.
func cached(c *pool.StmtCache, n int) []uint32 {
	var ids []uint32
	for i := 1; i <= n; i++ {
		// Get changes the LRU order: tests call cached only at the end.
		if s := c.Get(fmt.Sprintf("q%d", i)); s != nil {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func TestStmtCacheGetPut(t *testing.T) {
	c := pool.NewStmtCache(4)
	require.Nil(t, c.Get("SELECT 1"))
	s := &pool.Stmt{ID: 10, Params: 2}
	require.Empty(t, c.Put("SELECT ?, ?", s))
	require.Same(t, s, c.Get("SELECT ?, ?"))
	require.Equal(t, 1, c.Len())
	require.Nil(t, c.Get("select ?, ?"), "queries are matched exactly")
}

func TestStmtCacheEviction(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		touch   []string // Get these before the next Put
		put     string
		evicted []uint32
		left    []uint32
	}{
		{"least recently put goes first", 3, nil, "q4", []uint32{1}, []uint32{2, 3, 4}},
		{"Get refreshes an entry", 3, []string{"q1"}, "q4", []uint32{2}, []uint32{1, 3, 4}},
		{"Get order counts", 3, []string{"q1", "q2"}, "q4", []uint32{3}, []uint32{1, 2, 4}},
		{"a miss does not refresh", 3, []string{"nope"}, "q4", []uint32{1}, []uint32{2, 3, 4}},
		{"size 1 keeps the newest", 1, nil, "q4", []uint32{1}, []uint32{4}},
		{"size below 1 means 1", 0, nil, "q4", []uint32{1}, []uint32{4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := pool.NewStmtCache(tc.max)
			fill(t, c, max(tc.max, 1)) // to capacity
			for _, q := range tc.touch {
				c.Get(q)
			}
			require.Equal(t, tc.evicted, c.Put(tc.put, &pool.Stmt{ID: 4}))
			require.Equal(t, len(tc.left), c.Len())
			require.Equal(t, tc.left, cached(c, 4))
		})
	}
}

func TestStmtCachePutExistingReturnsOldID(t *testing.T) {
	c := pool.NewStmtCache(3)
	fill(t, c, 3)
	// Re-preparing q1 replaces statement 1, which the caller must close;
	// nothing else is evicted and q1 becomes the most recent.
	require.Equal(t, []uint32{1}, c.Put("q1", &pool.Stmt{ID: 11}))
	require.Equal(t, 3, c.Len())
	require.Equal(t, uint32(11), c.Get("q1").ID)
	require.Equal(t, []uint32{2}, c.Put("q4", &pool.Stmt{ID: 4}), "q2 is now the oldest")
}

func TestStmtCacheShrink(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		evicted []uint32
	}{
		{"empty", 0, nil},
		{"one statement", 1, []uint32{1}},
		{"two statements: the older", 2, []uint32{1}},
		{"four statements: the older half", 4, []uint32{1, 2}},
		{"five statements: the older half", 5, []uint32{1, 2, 3}},
		{"ten statements: the older half", 10, []uint32{1, 2, 3, 4, 5}},
	}
	// Shrink documents "evicts the older half": n statements keep the
	// newest n/2.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := pool.NewStmtCache(16)
			fill(t, c, tc.n)
			got := c.Shrink()
			require.Equal(t, tc.evicted, got, "evicted ids")
			require.Equal(t, tc.n-len(tc.evicted), c.Len())
			// The newest statements stay usable.
			for i := len(tc.evicted) + 1; i <= tc.n; i++ {
				require.NotNil(t, c.Get(fmt.Sprintf("q%d", i)), "q%d", i)
			}
		})
	}
}

func TestStmtCacheClear(t *testing.T) {
	c := pool.NewStmtCache(4)
	fill(t, c, 3)
	c.Clear()
	require.Zero(t, c.Len())
	require.Nil(t, c.Get("q1"))
	fill(t, c, 4)
	require.Equal(t, []uint32{1}, c.Put("q5", &pool.Stmt{ID: 5}), "the cache works after Clear")
}
