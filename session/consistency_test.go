package session

import (
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGTIDPosParseMerge(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
	tests := []struct {
		name, set, want string
	}{
		{"MariaDB one", "0-1-42", "0-1-42"},
		{"MariaDB domains", "0-1-42,1-2-7", "0-1-42,1-2-7"},
		{"MariaDB same domain keeps the highest", "0-1-42,0-2-40", "0-1-42"},
		{"MySQL one", u1 + ":42", u1 + ":42"},
		{"MySQL intervals keep the highest", u1 + ":1-5:7-9:12", u1 + ":12"},
		{"MySQL uuids and newline", u1 + ":1-5,\n" + u2 + ":3", u1 + ":5," + u2 + ":3"},
		{"MySQL tag is its own domain", u1 + ":1-5:tagx:3", u1 + ":5," + u1 + ":tagx:3"},
		{"junk", "nothing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, parseGTIDs(tc.set).String())
		})
	}
	p := parseGTIDs("0-1-42")
	require.Same(t, p, p.merge(parseGTIDs("0-1-40")), "an older GTID changes nothing")
	q := p.merge(parseGTIDs("0-1-43,2-1-1"))
	require.Equal(t, "0-1-42", p.String(), "merge does not change its receiver")
	require.Equal(t, "0-1-43,2-1-1", q.String())
	require.True(t, q.covers(p))
	require.False(t, p.covers(q))
	require.True(t, p.covers(nil))
	require.False(t, (*gtidPos)(nil).covers(p))
	require.True(t, parseGTIDs(u1+":9").mysql())
	require.False(t, p.mysql())
}

// TestPosCellConcurrentAdvance: concurrent writers of one user never lose
// a write's position (the compare-and-swap retries).
func TestPosCellConcurrentAdvance(t *testing.T) {
	var c posCell
	var wg sync.WaitGroup
	for d := range 8 {
		wg.Go(func() {
			for n := 1; n <= 500; n++ {
				c.advance(parseGTIDs(strconv.Itoa(d) + "-1-" + strconv.Itoa(n)))
			}
		})
	}
	wg.Wait()
	want := parseGTIDs("0-1-500,1-1-500,2-1-500,3-1-500,4-1-500,5-1-500,6-1-500,7-1-500")
	require.True(t, c.load().covers(want), "position %s", c.load())
	require.Len(t, c.load().doms, 8, "one entry per domain, whatever the number of writes")
}

func TestWaitHistogram(t *testing.T) {
	var h WaitHistogram
	h.observe(0)
	h.observe(RYWWaitBounds[2])
	h.observe(RYWWaitBounds[len(RYWWaitBounds)-1] * 2)
	counts, sum := h.Snapshot()
	require.Len(t, counts, len(RYWWaitBounds)+1)
	require.Equal(t, uint64(1), counts[0])
	require.Equal(t, uint64(1), counts[2])
	require.Equal(t, uint64(1), counts[len(counts)-1])
	require.Equal(t, RYWWaitBounds[2]+RYWWaitBounds[len(RYWWaitBounds)-1]*2, sum)
}
