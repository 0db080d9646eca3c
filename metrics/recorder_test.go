package metrics

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// histogram gathers r and returns the duration histogram of (hg, addr).
func histogram(t *testing.T, r *Recorder, hg, addr string) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "rwproxy_query_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["hostgroup"] == hg && labels["backend"] == addr {
				return m.GetHistogram()
			}
		}
	}
	return nil
}

func TestRecorderBuckets(t *testing.T) {
	r := NewRecorder(RecorderOptions{Buckets: []float64{.001, .01, .1}})
	for _, d := range []time.Duration{
		0, 500 * time.Microsecond, time.Millisecond, // le 0.001 (a bound includes its value)
		time.Millisecond + 1, 10 * time.Millisecond, // le 0.01
		50 * time.Millisecond,     // le 0.1
		time.Second, -time.Second, // +Inf; a negative duration counts as 0
	} {
		r.ObserveQuery(10, "db1:3306", "app", "SELECT ?", d, OutcomeOK)
	}
	h := histogram(t, r, "10", "db1:3306")
	require.NotNil(t, h)
	require.Equal(t, uint64(8), h.GetSampleCount())
	var cum []uint64
	for _, b := range h.GetBucket() {
		cum = append(cum, b.GetCumulativeCount())
	}
	require.Equal(t, []uint64{4, 6, 7}, cum)
	want := (500*time.Microsecond + time.Millisecond + time.Millisecond + 1 + 10*time.Millisecond + 50*time.Millisecond + time.Second).Seconds()
	require.InDelta(t, want, h.GetSampleSum(), 1e-9)
	require.Nil(t, histogram(t, r, "20", "db1:3306"))
}

func TestRecorderErrors(t *testing.T) {
	r := NewRecorder(RecorderOptions{})
	r.ObserveQuery(10, "db1:3306", "app", "", time.Millisecond, OutcomeServerError)
	r.ObserveQuery(10, "db1:3306", "app", "", time.Millisecond, OutcomeServerError)
	r.ObserveQuery(10, "db1:3306", "app", "", time.Millisecond, OutcomeBackendLost)
	r.ObserveQuery(20, "db2:3306", "app", "", time.Millisecond, OutcomeClientLost)
	r.ObserveQuery(20, "db2:3306", "app", "", time.Millisecond, 99) // unknown: counted as a request only
	want := `
# HELP rwproxy_query_errors_total Requests that failed, by type: server_error (ERR packet), backend_lost, client_lost.
# TYPE rwproxy_query_errors_total counter
rwproxy_query_errors_total{backend="db1:3306",hostgroup="10",type="backend_lost"} 1
rwproxy_query_errors_total{backend="db1:3306",hostgroup="10",type="client_lost"} 0
rwproxy_query_errors_total{backend="db1:3306",hostgroup="10",type="server_error"} 2
rwproxy_query_errors_total{backend="db2:3306",hostgroup="20",type="backend_lost"} 0
rwproxy_query_errors_total{backend="db2:3306",hostgroup="20",type="client_lost"} 1
rwproxy_query_errors_total{backend="db2:3306",hostgroup="20",type="server_error"} 0
`
	require.NoError(t, testutil.CollectAndCompare(r, strings.NewReader(want), "rwproxy_query_errors_total"))
	require.Equal(t, uint64(2), histogram(t, r, "20", "db2:3306").GetSampleCount())
}

func TestRecorderOverflow(t *testing.T) {
	r := NewRecorder(RecorderOptions{MaxSeries: 2})
	r.ObserveQuery(10, "a:1", "", "", time.Millisecond, OutcomeOK)
	r.ObserveQuery(20, "a:1", "", "", time.Millisecond, OutcomeOK)
	r.ObserveQuery(20, "b:1", "", "", time.Millisecond, OutcomeOK)
	r.ObserveQuery(30, "c:1", "", "", time.Millisecond, OutcomeOK)
	r.ObserveQuery(10, "a:1", "", "", time.Millisecond, OutcomeOK)
	require.Equal(t, uint64(2), histogram(t, r, "10", "a:1").GetSampleCount())
	require.Equal(t, uint64(1), histogram(t, r, "20", "a:1").GetSampleCount())
	require.Equal(t, uint64(2), histogram(t, r, "other", "other").GetSampleCount())
	require.Equal(t, 3, testutil.CollectAndCount(r, "rwproxy_query_duration_seconds"))
}

func TestRecorderSlowLog(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	var mu sync.Mutex
	thr := 10 * time.Millisecond
	r := NewRecorder(RecorderOptions{SlowLog: zap.New(core), SlowThreshold: func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return thr
	}})
	long := "SELECT " + strings.Repeat("x", 300)
	r.ObserveQuery(10, "db1:3306", "app", "SELECT ?", 9*time.Millisecond, OutcomeOK)
	r.ObserveQuery(10, "db1:3306", "app", "SELECT ?", 10*time.Millisecond, OutcomeOK)
	r.ObserveQuery(20, "db2:3306", "bob", long, time.Second, OutcomeServerError)
	mu.Lock()
	thr = 0 // off (hot)
	mu.Unlock()
	r.ObserveQuery(10, "db1:3306", "app", "SELECT ?", time.Hour, OutcomeOK)

	entries := logs.All()
	require.Len(t, entries, 2)
	require.Equal(t, zap.WarnLevel, entries[0].Level)
	require.Equal(t, "slow query", entries[0].Message)
	f := entries[0].ContextMap()
	require.Equal(t, "SELECT ?", f["digest"])
	require.Equal(t, 10*time.Millisecond, f["duration"])
	require.Equal(t, "db1:3306", f["backend_addr"])
	require.Equal(t, int64(10), f["hostgroup"])
	require.Equal(t, "app", f["user"])
	require.NotContains(t, f, "error")
	f = entries[1].ContextMap()
	require.Len(t, f["digest"], maxDigestLog)
	require.Equal(t, "server_error", f["error"])
	require.Equal(t, "bob", f["user"])
	require.Equal(t, 2.0, testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		ch <- counter(dSlow, float64(r.slow.Load()))
	})))
}

// TestRecorderConcurrent: observations from many goroutines, with scrapes
// in between, are all counted (run with -race).
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(RecorderOptions{})
	const workers, per = 8, 5000
	addrs := []string{"a:1", "b:1", "c:1", "d:1"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				r.ObserveQuery(10, addrs[(w+i)%len(addrs)], "u", "d", time.Duration(i)*time.Microsecond, i%3)
			}
		})
	}
	stop := make(chan struct{})
	var scrapes sync.WaitGroup
	scrapes.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = testutil.CollectAndCount(r)
			}
		}
	})
	wg.Wait()
	close(stop)
	scrapes.Wait()
	var total uint64
	for _, a := range addrs {
		total += histogram(t, r, "10", a).GetSampleCount()
	}
	require.Equal(t, uint64(workers*per), total)
}

func TestObserveQueryAllocs(t *testing.T) {
	r := NewRecorder(RecorderOptions{SlowThreshold: func() time.Duration { return time.Hour }})
	r.ObserveQuery(10, "db1:3306", "app", "SELECT ?", time.Millisecond, OutcomeOK)
	allocs := testing.AllocsPerRun(1000, func() {
		r.ObserveQuery(10, "db1:3306", "app", "SELECT ?", time.Millisecond, OutcomeOK)
	})
	require.Zero(t, allocs)
}

func BenchmarkObserveQuery(b *testing.B) {
	r := NewRecorder(RecorderOptions{SlowThreshold: func() time.Duration { return 0 }})
	addrs := []string{"127.0.0.1:3306", "127.0.0.1:3307", "127.0.0.1:3308"}
	for _, a := range addrs {
		r.ObserveQuery(20, a, "app", "SELECT ?", time.Millisecond, OutcomeOK)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.ObserveQuery(20, addrs[i%3], "app", "SELECT ?", 300*time.Microsecond, OutcomeOK)
			i++
		}
	})
}

// TestRecorderManySeries crosses from the linear scan to the map index.
func TestRecorderManySeries(t *testing.T) {
	r := NewRecorder(RecorderOptions{})
	for round := range 3 {
		for i := range 2 * scanMax {
			for range round + 1 {
				r.ObserveQuery(i%4, "db:"+strconv.Itoa(i), "", "", time.Millisecond, OutcomeOK)
			}
		}
	}
	for i := range 2 * scanMax {
		require.Equal(t, uint64(6), histogram(t, r, strconv.Itoa(i%4), "db:"+strconv.Itoa(i)).GetSampleCount())
	}
}
