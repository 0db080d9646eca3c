package router

import (
	"math"
	"sync/atomic"
	"time"
)

// LatencyEWMA is a time-decaying average of one server's response times,
// updated lock-free by every goroutine that observes a response. The
// zero value is ready to use (with DefaultDecay) and holds no sample.
//
// The average is geometric: it is kept over log2 of the samples, so a
// rare response thousands of times slower than usual (a client that
// stalled while its result was relayed, a machine-wide hiccup) moves it
// by a few percent instead of multiplying it, while a server whose every
// response is slower moves it all the way. The heavy statements of a
// mixed workload are thus seen for what they are: part of the mix.
//
// Each sample moves the average towards itself by 1 − e^(−Δt/decay),
// where Δt is the time since the previous sample of this server. Samples
// are thus weighted by the time they stand for, not by their number: at
// any request rate the average covers roughly the last `decay` of
// traffic, and after a quiet spell the first new sample counts for a lot.
// Concurrent observers each swap in their own clock reading, so the Δt
// they apply partition the elapsed time, and each folds its sample in with
// a compare-and-swap loop.
//
// The stored value is fixed point, 1 + log2(ns) in units of 2^-32, so
// that the tiny steps of a busy server (Δt of microseconds against a
// decay of half a second) are not rounded away; 0 means no sample.
type LatencyEWMA struct {
	avg   atomic.Int64 // (1 + log2 ns) × 2^32; 0 = no sample yet
	last  atomic.Int64 // clock reading of the latest sample, ns; 0 = none
	decay time.Duration
}

// DefaultDecay is the time constant of a LatencyEWMA: after a server's
// latency changes, its average has moved 63% of the way (in log scale)
// within this time of traffic, 95% within three times it.
const DefaultDecay = 500 * time.Millisecond

// maxSample caps a sample (an hour).
const maxSample = time.Hour

const fixOne = 1 << 32

// NewLatencyEWMA returns an empty average with time constant decay
// (DefaultDecay when ≤ 0).
func NewLatencyEWMA(decay time.Duration) *LatencyEWMA {
	return &LatencyEWMA{decay: decay}
}

// Observe folds in one response time d, seen at clock reading now (ns on
// any monotonic clock that starts above 0; the same clock for every
// call).
func (e *LatencyEWMA) Observe(now int64, d time.Duration) {
	d = min(max(d, 1), maxSample)
	sample := int64((1 + math.Log2(float64(d))) * fixOne)
	prev := e.last.Swap(now)
	alpha := 1.0
	if prev != 0 && now > prev {
		decay := e.decay
		if decay <= 0 {
			decay = DefaultDecay
		}
		alpha = -math.Expm1(-float64(now-prev) / float64(decay))
	} else if prev != 0 {
		alpha = 0 // a sample at the same instant as the previous one stands for no time
	}
	for {
		old := e.avg.Load()
		nv := sample
		if old != 0 {
			nv = old + int64(alpha*float64(sample-old))
		}
		if nv == old || e.avg.CompareAndSwap(old, nv) {
			return
		}
	}
}

// Average returns the current average, and false when there is no sample.
func (e *LatencyEWMA) Average() (time.Duration, bool) {
	ns := e.averageNs()
	return time.Duration(math.Round(ns)), ns != 0
}

// averageNs returns the average in ns as a float, 0 when there is none.
func (e *LatencyEWMA) averageNs() float64 {
	v := e.avg.Load()
	if v == 0 {
		return 0
	}
	return math.Exp2(float64(v)/fixOne - 1)
}

// Reset forgets every sample.
func (e *LatencyEWMA) Reset() {
	e.avg.Store(0)
	e.last.Store(0)
}
