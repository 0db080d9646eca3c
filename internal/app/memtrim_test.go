package app

import "testing"

func TestMemTrim(t *testing.T) {
	var m memTrim
	for i, st := range []struct {
		sessions int64
		trim     bool
	}{
		{10, false}, {5000, false}, // logins
		{4500, true},   // they stopped, 4500 more than at the start: trim
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

// TestMemTrimAfterLogins: a rise of memTrimDrop sessions or more trims
// once, at the first tick that sees no more sessions than the previous one.
func TestMemTrimAfterLogins(t *testing.T) {
	var m memTrim
	for i, st := range []struct {
		sessions int64
		trim     bool
	}{
		{300, false}, {900, false}, {900, false}, // fewer than memTrimDrop
		{2000, false}, {6000, false}, {10000, false}, // logging in
		{10000, true},                                  // the logins stopped
		{10000, false},                                 // trimmed already
		{10500, false}, {10900, false}, {10900, false}, // 900 more: not worth it
		{11200, false}, {11200, true}, // 1200 more than at the last trim
		{10300, false}, {11000, false}, {11000, false}, // 900 ended and 700 began: no new low is passed by 1000
		{11400, false}, {11400, true}, // 1100 above the low point since the trim
	} {
		if got := m.observe(st.sessions); got != st.trim {
			t.Fatalf("step %d: %d sessions (base %d, last %d): trim = %v, want %v", i, st.sessions, m.base, m.last, got, st.trim)
		}
	}
}
