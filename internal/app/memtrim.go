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
const (
	memTrimEvery = 5 * time.Second
	// memTrimDrop is how many sessions must have ended since the peak: a
	// full collection is not worth less.
	memTrimDrop = 1000
)

// memTrim tracks the session count's peak and decides when to trim.
type memTrim struct{ peak int64 }

// observe takes the current session count and reports whether to give
// memory back now.
func (m *memTrim) observe(sessions int64) bool {
	if sessions > m.peak {
		m.peak = sessions
		return false
	}
	if m.peak-sessions >= memTrimDrop && sessions <= m.peak/2 {
		m.peak = sessions
		return true
	}
	return false
}

// trimMemory runs until ctx ends, returning freed memory to the OS after
// a large drop in sessions.
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
				a.lg.Info("returned freed memory to the OS after sessions ended", zap.Int64("sessions_peak", peak),
					zap.Int64("sessions", n), zap.Duration("took", time.Since(start)))
			}
		}
	}
}
