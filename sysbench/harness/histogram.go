package harness

import "math"

// Bucket is one row of sysbench's latency histogram (--histogram=on): the
// bucket's value in milliseconds as printed (%.3f) and how many events fell
// in it. sysbench keeps 1024 logarithmic buckets between 0.001 ms and
// 100 s, so neighbouring buckets are about 1.8% apart; it prints only the
// non-empty ones, in increasing order. The printed histogram is the
// cumulative one over the whole run, the same array sysbench takes its own
// --percentile figure from.
type Bucket struct {
	Ms    float64 `json:"ms"`
	Count int64   `json:"count"`
}

// Events is the number of events in the histogram.
func Events(h []Bucket) int64 {
	var n int64
	for _, b := range h {
		n += b.Count
	}
	return n
}

// Percentile returns the p-th percentile (0 < p <= 100) in milliseconds by
// the rule sysbench applies to the same histogram: the rank is
// events*p/100 rounded half up (at least 1), and the answer is the value of
// the first bucket at which the running count reaches it. So the p95 here
// equals sysbench's --percentile=95 figure, with the histogram's 0.001 ms
// print precision instead of the summary's 0.01 ms. ok is false for an
// empty histogram.
func Percentile(h []Bucket, p float64) (ms float64, ok bool) {
	total := Events(h)
	if total == 0 || p <= 0 || p > 100 {
		return 0, false
	}
	rank := int64(math.Floor(float64(total)*p/100 + 0.5))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for _, b := range h {
		seen += b.Count
		if seen >= rank {
			return b.Ms, true
		}
	}
	return h[len(h)-1].Ms, true
}
