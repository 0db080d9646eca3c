package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCounterSequences drives the shun/unshun hysteresis with sample
// sequences (b = bad, g = good) and checks the state after each sample.
func TestCounterSequences(t *testing.T) {
	tests := []struct {
		name               string
		shunAfter, unshunN int
		samples            string
		want               string // S = shunned, . = not, after each sample
	}{
		{"one bad sample does not shun", 2, 3, "bgbg", "...."},
		{"two bad shun", 2, 3, "bb", ".S"},
		{"unshun needs three good in a row", 2, 3, "bbggbggg", ".SSSSSS."},
		{"shun after 1", 1, 1, "bgb", "S.S"},
		{"a good sample resets the bad count", 3, 1, "bbgbbb", ".....S"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c counter
			var got strings.Builder
			for _, s := range tc.samples {
				c.observe(s == 'b', tc.shunAfter, tc.unshunN)
				if c.shunned {
					got.WriteByte('S')
				} else {
					got.WriteByte('.')
				}
			}
			require.Equal(t, tc.want, got.String())
		})
	}
}

func TestPingHysteresis(t *testing.T) {
	h := newHealth()
	fail := errors.New("connect: connection refused")
	clock := testTime
	step := func(err error) {
		clock = clock.Add(200 * time.Millisecond)
		h.observePing(err, time.Millisecond, clock, 2)
	}
	step(fail)
	require.False(t, h.pingShunned, "one failure is not enough")
	require.Equal(t, 1, h.pingFails)
	step(nil)
	require.Equal(t, 0, h.pingFails)
	step(fail)
	step(fail)
	require.True(t, h.pingShunned)
	require.Equal(t, "connect: connection refused", h.pingErr)
	step(fail)
	require.Equal(t, 3, h.pingFails)
	require.Equal(t, clock, h.lastPing)
	step(nil)
	require.False(t, h.pingShunned, "one good ping brings it back")
	require.Equal(t, time.Millisecond, h.pingLatency)
	require.Empty(t, h.pingErr)
}

// TestPingBackoff: the retry schedule of a shunned server against a fake
// clock, interval 1s, shun after 2.
func TestPingBackoff(t *testing.T) {
	const iv = time.Second
	var at []time.Duration
	clock := time.Duration(0)
	for fails := 1; fails <= 8; fails++ {
		clock += pingBackoff(iv, fails, 2)
		at = append(at, clock)
	}
	require.Equal(t, []time.Duration{1 * iv, 2 * iv, 4 * iv, 8 * iv, 16 * iv, 26 * iv, 36 * iv, 46 * iv}, at)
	require.Equal(t, iv, pingBackoff(iv, 0, 2), "healthy: plain interval")
	require.Equal(t, 10*iv, pingBackoff(iv, 1000, 2), "capped at 10 intervals")
}

func TestLagHysteresisPerHostgroup(t *testing.T) {
	h := newHealth()
	limits := map[int]int{20: 10, 40: 3600}
	obs := func(lag float64, reason string) {
		h.observeLag(lagSample{lag: lag, reason: reason}, testTime, limits, 2, 3)
	}
	obs(30, "")
	obs(30, "")
	require.True(t, h.lagShunned(20))
	require.False(t, h.lagShunned(40), "the reporting hostgroup tolerates an hour")
	require.Equal(t, "replication lag 30.000s (max_replication_lag 10s)", h.lagText(10))
	obs(-1, "replication SQL thread not running (No)")
	obs(-1, "replication SQL thread not running (No)")
	require.True(t, h.lagShunned(40), "unknown lag counts as over any limit")
	require.Equal(t, "replication lag unknown: replication SQL thread not running (No)", h.lagText(10))
	for range 2 {
		obs(0, "")
	}
	require.True(t, h.lagShunned(20), "two good checks are not enough")
	obs(0, "")
	require.False(t, h.lagShunned(20))
	require.False(t, h.lagShunned(40))
	require.Zero(t, h.lag, "lag 0 is reported only when measured")
	h.clearLag()
	require.Equal(t, -1.0, h.lag)
	require.False(t, h.lagShunned(20))
}

func TestGroupReplicationHysteresis(t *testing.T) {
	h := newHealth()
	pol := grPolicy{maxTxBehind: 10, limits: map[int]int{32: 5}, lagShunAfter: 2, lagUnshunAfter: 2}
	sec := func(behind int64, lag float64) *grMember {
		return &grMember{role: grSecondary, state: grOnline, viable: 3, total: 3, txBehind: behind, applyLag: lag}
	}
	h.observeGR(sec(11, 0), nil, testTime, pol)
	require.False(t, h.txHyst.shunned)
	h.observeGR(sec(11, 0), nil, testTime, pol)
	require.True(t, h.txHyst.shunned)
	h.observeGR(sec(0, 6), nil, testTime, pol)
	h.observeGR(sec(0, 6), nil, testTime, pol)
	require.False(t, h.txHyst.shunned)
	require.True(t, h.lagShunned(32), "seconds of apply lag use max_replication_lag")
	require.Equal(t, 6.0, h.lag)

	h.observeGR(nil, errAccess, testTime, pol)
	require.Equal(t, 1, h.grFails)
	require.NotNil(t, h.grMember, "a failed check keeps the last answer")
	h.observeGR(&grMember{role: grPrimary, state: grOnline, viable: 3, total: 3, applyLag: 0}, nil, testTime, pol)
	require.Zero(t, h.grFails)
	require.Equal(t, -1.0, h.lag, "a primary has no replica lag")
	require.False(t, h.lagShunned(32))

	h.observeGR(sec(50, -1), nil, testTime, pol)
	require.Equal(t, -1.0, h.lag, "no apply-lag column: lag not measured, not unknown-and-shunned")
	require.False(t, h.lagShunned(32))
}

func TestReadOnlyKeepsLastValueOnError(t *testing.T) {
	h := newHealth()
	_, known := h.readOnly("read_only")
	require.False(t, known)
	h.observeReadOnly(map[string]bool{"read_only": true}, nil)
	h.observeReadOnly(nil, errAccess)
	v, known := h.readOnly("")
	require.True(t, known)
	require.True(t, v)
	require.Contains(t, h.roErr, "SELECT command denied")
}
