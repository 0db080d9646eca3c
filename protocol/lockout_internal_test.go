package protocol

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLockoutCounts: consecutive failures lock a name for the lock time;
// the lock passes; a name that has not failed for a lock time starts again;
// the table is bounded.
func TestLockoutCounts(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &lockout{now: func() time.Time { return now }}
	const max, lock = 3, time.Minute
	require.False(t, l.fail("app", max, lock))
	require.False(t, l.fail("app", max, lock))
	require.False(t, l.isLocked("app"))
	require.True(t, l.fail("app", max, lock), "third failure locks")
	require.True(t, l.isLocked("app"))
	require.False(t, l.isLocked("other"))
	now = now.Add(lock)
	require.False(t, l.isLocked("app"), "the lock passed")
	require.False(t, l.fail("app", max, lock), "counting starts again")

	now = now.Add(lock)
	require.False(t, l.fail("app", max, lock))
	require.False(t, l.fail("app", max, lock), "the failure a lock time ago was forgotten")
	l.succeed("app")
	require.False(t, l.fail("app", max, lock))
	require.False(t, l.fail("app", max, lock), "a success cleared the count")

	for i := range maxLockoutNames + 10 {
		l.fail("n"+strconv.Itoa(i), max, lock)
	}
	require.LessOrEqual(t, len(l.mu.names), maxLockoutNames)
}
