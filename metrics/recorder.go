package metrics

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Outcomes of one request, ObserveQuery's outcome argument. They are plain
// ints so that the session's interface needs no import of this package.
const (
	// OutcomeOK: the backend answered (OK, result set, EOF).
	OutcomeOK = 0
	// OutcomeServerError: the backend answered with an ERR packet.
	OutcomeServerError = 1
	// OutcomeBackendLost: the backend connection failed mid-request.
	OutcomeBackendLost = 2
	// OutcomeClientLost: the client connection failed while the response
	// was relayed.
	OutcomeClientLost = 3
	numOutcomes       = 4
)

// outcomeNames label rwproxy_query_errors_total{type}; OutcomeOK is not an error.
var outcomeNames = [numOutcomes]string{"", "server_error", "backend_lost", "client_lost"}

// DefaultBuckets are the latency histogram's upper bounds, in seconds:
// 100µs to 10s, for sub-millisecond point selects as well as reports.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DefaultMaxSeries bounds the (hostgroup, backend) pairs a Recorder keeps.
const DefaultMaxSeries = 1024

// maxDigestLog bounds the digest text in one slow query log line.
const maxDigestLog = 256

var (
	dDuration = desc("query_duration_seconds", "Request latency, from send to the last packet relayed, by hostgroup and backend.", lPlacement)
	dErrors   = desc("query_errors_total", "Requests that failed, by type: server_error (ERR packet), backend_lost, client_lost.", []string{"hostgroup", "backend", "type"})
	dSlow     = desc("slow_queries_total", "Requests slower than log.slow_query_threshold (logged).", nil)
)

// RecorderOptions configure a Recorder; the zero value works (default
// buckets, slow query log off).
type RecorderOptions struct {
	// Buckets are the histogram's upper bounds in seconds, increasing.
	Buckets []float64
	// SlowThreshold returns the current slow query threshold, 0 for off.
	// It is called once per request: keep it to an atomic load (e.g.
	// Store.Current().Log.SlowQueryThreshold). nil means off.
	SlowThreshold func() time.Duration
	// SlowLog receives one Warn line per slow request.
	SlowLog *zap.Logger
	// MaxSeries bounds the (hostgroup, backend) pairs; requests beyond it
	// are counted under hostgroup="other", backend="other".
	MaxSeries int
}

// Recorder is the per-request hook (see the package comment) and the
// collector of what it records.
type Recorder struct {
	bounds   []float64
	boundsNs []int64
	max      int
	slowThr  func() time.Duration
	slowLog  *zap.Logger
	slow     atomic.Uint64

	// index is copy-on-write: readers load it, a new pair is added under
	// mu by swapping in a copy. Pairs are few (servers × hostgroups).
	index    atomic.Pointer[seriesIndex]
	mu       sync.Mutex
	overflow *series
}

// seriesIndex finds a pair's series: a linear scan while there are few
// (cheaper than hashing the address), a map beyond.
type seriesIndex struct {
	list []*series
	m    map[seriesKey]*series
}

// scanMax is the most pairs looked up by a linear scan.
const scanMax = 16

func (x *seriesIndex) find(hg int, addr string) *series {
	if x.m == nil {
		for _, s := range x.list {
			if s.hgID == hg && s.addr == addr {
				return s
			}
		}
		return nil
	}
	return x.m[seriesKey{hg, addr}]
}

var _ prometheus.Collector = (*Recorder)(nil)

type seriesKey struct {
	hg   int
	addr string
}

type series struct {
	hgID     int
	hg, addr string
	// buckets are per-bucket (not cumulative) counts; the last is +Inf.
	buckets []atomic.Uint64
	sumNs   atomic.Uint64
	errs    [numOutcomes]atomic.Uint64
}

// NewRecorder builds a Recorder.
func NewRecorder(o RecorderOptions) *Recorder {
	if len(o.Buckets) == 0 {
		o.Buckets = DefaultBuckets
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.SlowLog == nil {
		o.SlowLog = zap.NewNop()
	}
	r := &Recorder{bounds: append([]float64(nil), o.Buckets...), max: o.MaxSeries, slowThr: o.SlowThreshold, slowLog: o.SlowLog}
	for _, b := range r.bounds {
		r.boundsNs = append(r.boundsNs, int64(b*1e9))
	}
	r.index.Store(&seriesIndex{})
	r.overflow = r.newSeries(-1, "other", "other")
	return r
}

func (r *Recorder) newSeries(hgID int, hg, addr string) *series {
	return &series{hgID: hgID, hg: hg, addr: addr, buckets: make([]atomic.Uint64, len(r.bounds)+1)}
}

// ObserveQuery records one request that hostgroup's backend addr answered
// (or failed) after d, for user; digest is the statement's normalized text
// ("" when none: COM_INIT_DB, ...). outcome is one of the Outcome
// constants. It is called on the query path by the session's goroutine: it
// takes no lock for a known pair, allocates nothing, and logs only when the
// request is slow.
func (r *Recorder) ObserveQuery(hostgroup int, addr, user, digest string, d time.Duration, outcome int) {
	s := r.index.Load().find(hostgroup, addr)
	if s == nil {
		s = r.add(hostgroup, addr)
	}
	ns := max(int64(d), 0)
	i := 0
	for i < len(r.boundsNs) && ns > r.boundsNs[i] { // le: a bound includes its value
		i++
	}
	s.buckets[i].Add(1)
	s.sumNs.Add(uint64(ns))
	if outcome > OutcomeOK && outcome < numOutcomes {
		s.errs[outcome].Add(1)
	}
	if r.slowThr != nil {
		if thr := r.slowThr(); thr > 0 && d >= thr {
			r.logSlow(hostgroup, addr, user, digest, d, outcome)
		}
	}
}

// add returns the series of a new pair, or the overflow series when the
// Recorder is full.
func (r *Recorder) add(hg int, addr string) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.index.Load()
	if s := old.find(hg, addr); s != nil {
		return s
	}
	if len(old.list) >= r.max {
		return r.overflow
	}
	s := r.newSeries(hg, strconv.Itoa(hg), strings.Clone(addr))
	next := &seriesIndex{list: append(old.list[:len(old.list):len(old.list)], s)}
	if len(next.list) > scanMax {
		next.m = make(map[seriesKey]*series, len(next.list))
		for _, e := range next.list {
			next.m[seriesKey{e.hgID, e.addr}] = e
		}
	}
	r.index.Store(next)
	return s
}

func (r *Recorder) logSlow(hg int, addr, user, digest string, d time.Duration, outcome int) {
	r.slow.Add(1)
	if len(digest) > maxDigestLog {
		digest = digest[:maxDigestLog]
	}
	fields := []zap.Field{zap.String("digest", digest), zap.Duration("duration", d),
		zap.String("backend_addr", addr), zap.Int("hostgroup", hg), zap.String("user", user)}
	if outcome > OutcomeOK && outcome < numOutcomes {
		fields = append(fields, zap.String("error", outcomeNames[outcome]))
	}
	r.slowLog.Warn("slow query", fields...)
}

// SlowQueries is how many requests were slower than the slow query
// threshold (stats_mysql_global.Slow_queries).
func (r *Recorder) SlowQueries() uint64 { return r.slow.Load() }

// Describe implements prometheus.Collector.
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	ch <- dDuration
	ch <- dErrors
	ch <- dSlow
}

// Collect implements prometheus.Collector.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r.index.Load().list {
		r.collect(ch, s)
	}
	if r.overflow.count() > 0 {
		r.collect(ch, r.overflow)
	}
	ch <- counter(dSlow, float64(r.slow.Load()))
}

func (s *series) count() uint64 {
	var n uint64
	for i := range s.buckets {
		n += s.buckets[i].Load()
	}
	return n
}

func (r *Recorder) collect(ch chan<- prometheus.Metric, s *series) {
	cum := make(map[float64]uint64, len(r.bounds))
	var n uint64
	for i, b := range r.bounds {
		n += s.buckets[i].Load()
		cum[b] = n
	}
	n += s.buckets[len(r.bounds)].Load()
	h, err := prometheus.NewConstHistogram(dDuration, n, float64(s.sumNs.Load())/1e9, cum, s.hg, s.addr)
	if err != nil {
		h = prometheus.NewInvalidMetric(dDuration, err)
	}
	ch <- h
	for o := OutcomeServerError; o < numOutcomes; o++ {
		ch <- counter(dErrors, float64(s.errs[o].Load()), s.hg, s.addr, outcomeNames[o])
	}
}
