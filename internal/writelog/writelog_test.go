package writelog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseAcks(t *testing.T) {
	acks, err := ParseAcks(strings.NewReader("1 1000000000\n2\n\n3 3500000000\n"))
	require.NoError(t, err)
	require.Equal(t, []Ack{{1, time.Unix(1, 0)}, {2, time.Time{}}, {3, time.Unix(3, 5e8)}}, acks)

	for _, bad := range []string{"x\n", "1 2 3\n", "1 y\n"} {
		_, err := ParseAcks(strings.NewReader(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestMissingAndGap(t *testing.T) {
	var b bytes.Buffer
	for i, ms := range []int64{0, 5, 10, 4010, 4015} { // a 4 s stall before id 4
		fmt.Fprintf(&b, "%d %d\n", i+1, ms*int64(time.Millisecond))
	}
	acks, err := ParseAcks(&b)
	require.NoError(t, err)
	gap, end := LongestGap(acks)
	require.Equal(t, 4*time.Second, gap)
	require.Equal(t, time.Unix(0, 4010*int64(time.Millisecond)), end)

	require.Empty(t, Missing(acks, map[int64]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true}))
	require.Equal(t, []int64{2, 5}, Missing(acks, map[int64]bool{1: true, 3: true, 4: true}))

	gap, _ = LongestGap(acks[:1])
	require.Zero(t, gap)
}
