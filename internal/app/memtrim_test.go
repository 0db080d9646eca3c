package app

import "testing"

func TestMemTrim(t *testing.T) {
	var m memTrim
	for i, st := range []struct {
		sessions int64
		trim     bool
	}{
		{10, false}, {5000, false}, {4500, false}, // the peak, then a small dip
		{3999, false},  // 1001 fewer, but more than half are still open
		{2400, true},   // 2600 fewer and under half the peak: trim
		{2400, false},  // nothing ended since
		{1300, false},  // 1100 fewer than at the trim, but more than half
		{10000, false}, // a new peak
		{0, true},      // all gone
		{0, false},
		{900, false}, {0, false}, // fewer than memTrimDrop: not worth a collection
	} {
		if got := m.observe(st.sessions); got != st.trim {
			t.Fatalf("step %d: %d sessions (peak %d): trim = %v, want %v", i, st.sessions, m.peak, got, st.trim)
		}
	}
}
