package app

import (
	"context"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// After many client connections close at once (a connection storm, a
// pool of ten thousand idle clients shut down), the Go runtime keeps the
// memory they used until a garbage collection and its scavenger return
// it: with no allocation going on, that is the forced collection every
// two minutes and a slow scavenge after it, so rwproxy's RSS stays at its
// peak for minutes and looks like a leak. memTrimmer returns it at once
// when the session count has dropped a lot since its last peak.
//
// The same holds after many clients logged in at once (a reconnect storm,
// a pool of ten thousand clients opening): each login's handshake used
// about 80 KiB of buffers that are garbage once it is over, and the
// goroutines of the new sessions keep the 8 KiB stacks the handshake grew
// until a collection shrinks them (to 4 KiB: session.run). So it trims too
// once the count has risen by memTrimDrop since the last trim and the
// logins have stopped (no more sessions than at the previous tick).
const (
	memTrimEvery = 5 * time.Second
	// memTrimDrop is how many sessions must have ended since the peak: a
	// full collection is not worth less.
	memTrimDrop = 1000
)

// memTrim tracks the session count's peak, its low point since the last
// trim (base) and its previous value, and decides when to trim.
type memTrim struct{ peak, base, last int64 }

// observe takes the current session count and reports whether to give
// memory back now.
func (m *memTrim) observe(sessions int64) bool {
	prev := m.last
	m.last = sessions
	m.base = min(m.base, sessions)
	if sessions > m.peak {
		m.peak = sessions
		return false
	}
	if m.peak-sessions >= memTrimDrop && sessions <= m.peak/2 {
		m.peak, m.base = sessions, sessions
		return true
	}
	if sessions-m.base >= memTrimDrop && sessions <= prev {
		m.base = sessions
		return true
	}
	return false
}

// trimMemory runs until ctx ends, returning freed memory to the OS after
// a large drop in sessions, or a large rise once the logins have stopped.
func (a *App) trimMemory(ctx context.Context) {
	t := time.NewTicker(memTrimEvery)
	defer t.Stop()
	var m memTrim
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := a.Stats.Sessions.Load()
			if peak := m.peak; m.observe(n) {
				start := time.Now()
				debug.FreeOSMemory()
				a.lg.Info("returned freed memory to the OS after many sessions began or ended", zap.Int64("sessions_peak", peak),
					zap.Int64("sessions", n), zap.Duration("took", time.Since(start)))
			}
		}
	}
}
