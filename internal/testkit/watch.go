package testkit

import (
	"context"
	"sync"
	"time"
)

// Watch measures when something first became true: it polls cond every
// interval from a goroutine of its own until cond returns true or Stop is
// called. A measurement only (failover timings): tests log its time and
// never wait on it.
type Watch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	at     time.Time
}

// StartWatch starts polling cond (given a context Stop cancels) every
// interval, the first time at once.
func StartWatch(interval time.Duration, cond func(ctx context.Context) bool) *Watch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watch{cancel: cancel}
	w.wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if cond(ctx) {
				w.mu.Lock()
				w.at = time.Now()
				w.mu.Unlock()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return w
}

// At returns when cond first returned true; zero until then.
func (w *Watch) At() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at
}

// Stop ends the polling, waits for it and returns At.
func (w *Watch) Stop() time.Time {
	w.cancel()
	w.wg.Wait()
	return w.At()
}
