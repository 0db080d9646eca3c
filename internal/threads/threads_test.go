package threads

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// fakeProc is a process whose CPU use per interval the test decides, and
// the run queue its samples find.
type fakeProc struct {
	cpu      time.Duration
	now      time.Time
	sets     []int
	runnable uint64
	idle     time.Duration
	idleCPUs float64 // the machine's idle CPUs during each tick
}

func (p *fakeProc) read() time.Duration { return p.cpu }
func (p *fakeProc) set(n int)           { p.sets = append(p.sets, n) }

// tick advances the clock by one interval during which the process used
// `used` CPUs, and steps c.
func (p *fakeProc) tick(c *Controller, used float64) (int, bool) {
	p.now = p.now.Add(Interval)
	p.cpu += time.Duration(used * float64(Interval))
	p.idle += time.Duration(p.idleCPUs * float64(Interval))
	return c.Step(p.now)
}

func newFake(max int) (*Controller, *fakeProc) {
	p := &fakeProc{now: time.Unix(1000, 0)}
	c := New(max, p.set, p.read)
	c.runnable = func() uint64 { return p.runnable }
	c.idle = func() time.Duration { return p.idle }
	c.Step(p.now)
	return c, p
}

// tickQueued is tick with 20 run-queue samples of which share found
// goroutines waiting (Run takes 20 in an interval while Sampling).
func (p *fakeProc) tickQueued(c *Controller, used, share float64) (int, bool) {
	waiting := int(share * 20)
	for i := range 20 {
		p.runnable = 0
		if i < waiting {
			p.runnable = 3
		}
		c.Sample()
	}
	p.runnable = 0
	return p.tick(c, used)
}

// TestControllerQueueAddsAThread: several clients at once on one thread
// far from full (0.55 CPUs) wait in its run queue; with a fifth of a CPU
// idle on the machine over the last idleWindow intervals a second thread
// comes, is held queueHold, then given back for idleWindow intervals of
// measuring before it comes again. One client at a time at the same use
// (never queued), a machine without idle CPU, a thread under queueBusy, or
// too few samples: one thread.
func TestControllerQueueAddsAThread(t *testing.T) {
	c, p := newFake(2)
	for c.Threads() > 1 {
		p.tick(c, 0.1)
	}
	p.idleCPUs = 0.3
	for range 3 * downAfter {
		_, changed := p.tickQueued(c, 0.55, 0)
		require.False(t, changed, "one client at a time: one thread")
	}
	_, changed := p.tickQueued(c, 0.55, 0.2)
	require.False(t, changed, "queued in a fifth of the samples: not yet")
	_, changed = p.tickQueued(c, 0.3, 0.9)
	require.False(t, changed, "0.3 CPUs: one thread gives that without a queue worth a thread")
	p.runnable = 3
	for range minSamples - 1 {
		c.Sample()
	}
	p.runnable = 0
	_, changed = p.tick(c, 0.55)
	require.False(t, changed, "fewer than minSamples decide nothing")
	// A machine that idled before the burst of clients and is busy since.
	p.idleCPUs = 1.5
	for range idleWindow {
		p.tickQueued(c, 0.55, 0)
	}
	p.idleCPUs = 0.1
	for range 3 * idleWindow {
		_, changed = p.tickQueued(c, 0.55, 0.7)
		require.False(t, changed, "a machine with 0.1 CPUs idle: a second thread would find none")
	}
	p.idleCPUs = 0.3
	k := 0
	for c.Threads() == 1 && k <= idleWindow {
		p.tickQueued(c, 0.55, 0.7)
		k++
	}
	require.Equal(t, 2, c.Threads(), "queued, 0.55 CPUs, the machine 0.3 CPUs idle over idleWindow")
	require.GreaterOrEqual(t, k, idleWindow/2, "not before the window's average reached idleFor")

	// Held queueHold whatever the queue and the idle CPU then are.
	p.idleCPUs = 0
	held := int(queueHold / Interval)
	for i := 1; i < held; i++ {
		_, changed := p.tickQueued(c, 0.55, 0)
		require.False(t, changed, "interval %d of the hold", i)
	}
	n, changed := p.tickQueued(c, 0.55, 0)
	require.True(t, changed, "the hold over, 0.55 CPUs fit in one thread: given back to measure")
	require.Equal(t, 1, n)
	// Measured again: the idle CPU is back, the queue too.
	p.idleCPUs = 0.3
	for range idleWindow {
		_, changed = p.tickQueued(c, 0.55, 0.7)
		require.False(t, changed, "not before idleWindow intervals at one thread")
	}
	n, changed = p.tickQueued(c, 0.55, 0.7)
	require.True(t, changed)
	require.Equal(t, 2, n)
	require.Equal(t, []int{1, 2, 1, 2}, p.sets)

	// A hold that ends with the CPU needing the thread keeps it, then the
	// CPU rule decides.
	for range held {
		p.tickQueued(c, 0.9, 0.7)
	}
	require.Equal(t, 2, c.Threads(), "0.9 CPUs: over downAt of one thread")
	for range downAfter {
		p.tick(c, 0.2)
	}
	require.Equal(t, 1, c.Threads())
}

// TestMachineIdle: the machine's idle time since boot is read (every
// machine idled at some point since) and never goes back.
func TestMachineIdle(t *testing.T) {
	a := MachineIdle()
	require.Positive(t, a, "/proc/stat is readable here")
	require.GreaterOrEqual(t, MachineIdle(), a)
}

// TestControllerSamplesOnlyWhenBusy: Sampling follows the last interval's
// use, so an idle process is not woken every SampleEvery, and reads the
// machine's idle time only while busy.
func TestControllerSamplesOnlyWhenBusy(t *testing.T) {
	c, p := newFake(2)
	reads := 0
	c.idle = func() time.Duration { reads++; return p.idle }
	require.False(t, c.Sampling(), "nothing measured yet")
	p.tick(c, 0.1)
	require.False(t, c.Sampling())
	require.Zero(t, reads, "an idle process does not read /proc/stat")
	p.tick(c, sampleFrom)
	require.True(t, c.Sampling())
	require.Equal(t, 1, reads)
	p.tick(c, 0)
	require.False(t, c.Sampling())
}

// TestRunSamples: while the process is busy Run samples the run queue
// between steps and a queue it finds brings a second thread.
func TestRunSamples(t *testing.T) {
	var mu sync.Mutex
	var cpu time.Duration
	last := time.Now()
	// A process using 0.6 CPUs by the wall clock.
	read := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		cpu += time.Duration(0.6 * float64(now.Sub(last)))
		last = now
		return cpu
	}
	c := New(2, func(int) {}, read)
	// A machine with one CPU idle, by the same clock.
	idleStart := time.Now()
	c.idle = func() time.Duration { return time.Since(idleStart) }
	var samples atomic.Int64
	var queue atomic.Bool
	c.runnable = func() uint64 {
		samples.Add(1)
		if queue.Load() {
			return 2
		}
		return 0
	}
	changed := make(chan int, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, 20*time.Millisecond, time.Millisecond, func(n int) { changed <- n }); close(done) }()
	require.Equal(t, 1, <-changed, "0.6 CPUs and nothing waiting to run: down to one thread after downAfter steps")
	queue.Store(true)
	require.Equal(t, 2, <-changed, "sessions waiting in the run queue of one thread 60% busy: a second one")
	cancel()
	<-done
	require.GreaterOrEqual(t, samples.Load(), int64(minSamples))
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
	go func() { c.Run(ctx, time.Millisecond, time.Millisecond, func(n int) { changed <- n }); close(done) }()
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
