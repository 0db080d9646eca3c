package threads

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// fakeProc is a process whose CPU use per interval the test decides.
type fakeProc struct {
	cpu  time.Duration
	now  time.Time
	sets []int
}

func (p *fakeProc) read() time.Duration { return p.cpu }
func (p *fakeProc) set(n int)           { p.sets = append(p.sets, n) }

// tick advances the clock by one interval during which the process used
// `used` CPUs, and steps c.
func (p *fakeProc) tick(c *Controller, used float64) (int, bool) {
	p.now = p.now.Add(Interval)
	p.cpu += time.Duration(used * float64(Interval))
	return c.Step(p.now)
}

func newFake(max int) (*Controller, *fakeProc) {
	p := &fakeProc{now: time.Unix(1000, 0)}
	c := New(max, p.set, p.read)
	c.Step(p.now)
	return c, p
}

// TestControllerDownWhenIdleUpWhenBusy: from the start's max threads the
// count falls one at a time after downAfter low intervals, and rises at the
// first interval whose use reaches upAt of the running threads.
func TestControllerDownWhenIdleUpWhenBusy(t *testing.T) {
	c, p := newFake(4)
	require.Equal(t, 4, c.Threads())
	for i := 1; i < downAfter; i++ {
		n, changed := p.tick(c, 0.2)
		require.False(t, changed, "interval %d", i)
		require.Equal(t, 4, n)
	}
	n, changed := p.tick(c, 0.2)
	require.True(t, changed)
	require.Equal(t, 3, n)
	for c.Threads() > 1 {
		p.tick(c, 0.2)
	}
	require.Equal(t, []int{3, 2, 1}, p.sets)
	require.Equal(t, uint64(3), c.Changes())
	for range 3 * downAfter {
		_, changed := p.tick(c, 0)
		require.False(t, changed, "never below one thread")
	}

	// One thread 90% busy: a second at once, then a third when two are.
	n, changed = p.tick(c, 0.9)
	require.True(t, changed)
	require.Equal(t, 2, n)
	n, _ = p.tick(c, 1.5)
	require.Equal(t, 2, n, "1.5 of 2 CPUs is under upAt")
	n, _ = p.tick(c, 1.8)
	require.Equal(t, 3, n)
	p.tick(c, 3.9)
	n, changed = p.tick(c, 3.99)
	require.False(t, changed, "never above max")
	require.Equal(t, 4, n)
	require.Equal(t, []int{3, 2, 1, 2, 3, 4}, p.sets)
}

// TestControllerHysteresis: a use between the thresholds changes nothing,
// and one busy interval among low ones restarts the count towards a
// decrease.
func TestControllerHysteresis(t *testing.T) {
	c, p := newFake(2)
	for range 5 * downAfter {
		// 0.75 CPUs with two threads: above downAt of one thread (0.70),
		// under upAt of two: stays.
		_, changed := p.tick(c, 0.75)
		require.False(t, changed)
	}
	for i := range 5 * downAfter {
		used := 0.3
		if i%(downAfter-1) == downAfter-2 {
			used = 0.75
		}
		_, changed := p.tick(c, used)
		require.False(t, changed, "interval %d: a busy interval resets the low streak", i)
	}
	require.Equal(t, 2, c.Threads())
	require.Empty(t, p.sets)
}

// TestControllerClockNotMoving: a step at the same instant (or earlier)
// only takes a new reference point.
func TestControllerClockNotMoving(t *testing.T) {
	c, p := newFake(2)
	p.cpu += time.Second
	n, changed := c.Step(p.now)
	require.False(t, changed)
	require.Equal(t, 2, n)
}

// TestRunAndCollector: Run applies the changes it makes and reports them;
// the collector exports the count, the bound and the changes.
func TestRunAndCollector(t *testing.T) {
	var used time.Duration
	c := New(2, func(int) {}, func() time.Duration { return used })
	changed := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, time.Millisecond, func(n int) { changed <- n }); close(done) }()
	require.Equal(t, 1, <-changed, "an idle process comes down to one thread")
	cancel()
	<-done

	want := `
# HELP rwproxy_threads OS threads running rwproxy's Go code at once (GOMAXPROCS): fixed by the threads key, or moved between 1 and rwproxy_threads_max by the CPU rwproxy uses when threads is 0.
# TYPE rwproxy_threads gauge
rwproxy_threads 1
# HELP rwproxy_threads_changes_total Changes of rwproxy_threads made by the load (threads: 0).
# TYPE rwproxy_threads_changes_total counter
rwproxy_threads_changes_total 1
# HELP rwproxy_threads_max The most threads rwproxy uses: the threads key, or the CPUs the process may use when it is 0.
# TYPE rwproxy_threads_max gauge
rwproxy_threads_max 2
`
	require.NoError(t, testutil.CollectAndCompare(Collector(c, nil), strings.NewReader(want)))
	fixed := strings.NewReplacer("rwproxy_threads 1", "rwproxy_threads 3", "rwproxy_threads_max 2", "rwproxy_threads_max 3",
		"rwproxy_threads_changes_total 1", "rwproxy_threads_changes_total 0").Replace(want)
	require.NoError(t, testutil.CollectAndCompare(Collector(nil, func() int { return 3 }), strings.NewReader(fixed)))
}

// TestProcessCPU: the process's CPU time grows with work.
func TestProcessCPU(t *testing.T) {
	before := ProcessCPU()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	require.NotZero(t, x)
	require.Greater(t, ProcessCPU(), before)
}

// TestDocsListEveryMetric: docs/observability.md has a row for each metric
// of the collector.
func TestDocsListEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("../../docs/observability.md")
	require.NoError(t, err)
	ch := make(chan *prometheus.Desc, 8)
	Collector(nil, func() int { return 1 }).Describe(ch)
	close(ch)
	n := 0
	for d := range ch {
		name := strings.SplitN(strings.SplitN(d.String(), `fqName: "`, 2)[1], `"`, 2)[0]
		require.Contains(t, string(raw), "| `"+name+"` |", "docs/observability.md lacks a row for %s", name)
		n++
	}
	require.Equal(t, 3, n)
}
