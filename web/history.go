package web

import (
	"context"
	"sync"
	"time"
)

// historyLen is how many points the history keeps: two minutes at the
// default interval, what the dashboard's chart shows.
const historyLen = 121

// Point is the per-backend query counters at one instant.
type Point struct {
	Time    time.Time         `json:"time"`
	Queries map[string]uint64 `json:"queries"`
}

// history samples the per-backend query counters at a fixed interval, so
// that the dashboard shows the last two minutes as soon as it opens, and
// computes rates from server time (not the browser's).
type history struct {
	mu struct {
		sync.Mutex
		points []Point // oldest first, at most historyLen
	}
}

// run samples every interval until ctx ends.
func (h *history) run(ctx context.Context, interval time.Duration, sample func() Point) {
	t := time.NewTicker(interval)
	defer t.Stop()
	h.add(sample())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.add(sample())
		}
	}
}

func (h *history) add(p Point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.mu.points) == historyLen {
		copy(h.mu.points, h.mu.points[1:])
		h.mu.points = h.mu.points[:historyLen-1]
	}
	h.mu.points = append(h.mu.points, p)
}

// points returns a copy (the maps are never modified after add).
func (h *history) points() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Point{}, h.mu.points...)
}
