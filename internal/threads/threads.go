// Package threads sizes the number of OS threads that run rwproxy's Go code
// at once (GOMAXPROCS) to the CPU the process uses, when the operator left
// the threads key at 0.
//
// A Go program with more threads than it keeps busy pays for it on every
// statement: a goroutine made runnable by the netpoller wakes a second
// thread (a futex wake-up and a context switch) that finds nothing, spins
// and parks again. Measured side by side with ProxySQL on 2 CPUs, one thread
// spent 6–33% less CPU per statement than two and served more queries in
// most cells (docs/benchmarks.md). One thread also caps the process near one
// CPU, so the Controller adds threads as soon as rwproxy's CPU use nears
// what the running threads can give, and takes them away only after the use
// stayed well below for a while.
//
// CPU use alone misses one case: several clients at once on one thread
// that is far from full while the machine has CPU to spare. Their sessions
// then wait for each other in the thread's run queue while another CPU
// idles until their replies go out (sysbench point selects at 8 client
// threads on 2 CPUs: rwproxy at 0.55–0.65 of one CPU, the machine 0.25–0.3
// CPUs idle, 10% fewer queries than with two threads). So while the
// process is busy the Controller also samples the runtime's run queue every
// SampleEvery, and a second thread comes when sessions are found waiting in
// a quarter of the samples, the one thread is at least 40% busy and the
// machine had a fifth of a CPU idle over the last second of such
// intervals. Such a thread is kept queueHold, then given back for a second
// to measure again: at two threads the idle CPU it was added for is gone,
// so only the count below can tell whether it still pays. One client at a
// time never waits in the queue; a machine without idle CPU gains nothing
// from one more thread and pays its wake-ups (read_only and read_write on
// the same 2 CPUs: 15–22% more CPU per query and fewer queries).
//
// The Go runtime has no such policy (its GOMAXPROCS follows the CPU limit,
// not the load), hence this small loop: one getrusage per interval, while
// busy a runtime/metrics read per SampleEvery, and, when the count
// changes, one runtime.GOMAXPROCS call (a brief stop of the world, at most
// once per interval).
package threads

import (
	"context"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Policy thresholds, in CPUs used by the process over one interval.
const (
	// Interval is how often the process's CPU use is read.
	Interval = 100 * time.Millisecond
	// upAt: one more thread when the use reaches this share of the
	// running threads (one thread at 85% busy already queues sessions).
	upAt = 0.85
	// downAt: one thread less when the use stays under this share of
	// one thread less for downAfter intervals. More threads spend more CPU
	// on the same load (the wake-ups above), so the gap between the two
	// thresholds is wider than it looks, and the count does not flap.
	downAt    = 0.70
	downAfter = 30

	// SampleEvery is how often the run queue is sampled while the process
	// uses at least sampleFrom CPUs.
	SampleEvery = 5 * time.Millisecond
	sampleFrom  = 0.3
	// queueUp: one more thread when goroutines were found waiting to run
	// in this share of an interval's samples, the running threads are at
	// least queueBusy used and the machine had at least idleFor CPUs idle
	// over the last idleWindow such intervals at this count: a thread that
	// would find no idle CPU only adds wake-ups (read_only and read_write
	// at 8 and 32 sysbench threads on 2 CPUs: 15–22% more CPU per query,
	// fewer queries). minSamples: fewer samples decide nothing.
	queueUp    = 0.25
	queueBusy  = 0.40
	minSamples = 5
	idleFor    = 0.20
	idleWindow = 10
	// queueHold: a thread added for the queue is kept this long, then
	// given back (unless the CPU use needs it) so that the next idleWindow
	// intervals measure again whether it is worth it.
	queueHold = 5 * time.Second
)

// Controller moves GOMAXPROCS between 1 and Max by the process's CPU use
// and its run queue.
type Controller struct {
	max  int
	set  func(int)
	read func() time.Duration // the process's CPU time so far

	cur      atomic.Int64
	changes  atomic.Uint64
	lastCPU  time.Duration
	lastAt   time.Time
	lowTicks int

	runnable func() uint64 // goroutines waiting to run now
	used     float64       // CPUs used over the last interval
	samples  int           // run-queue samples in this interval
	queued   int           // of which found goroutines waiting

	idle      func() time.Duration        // the machine's idle CPU time so far
	idleRing  [idleWindow + 1]idleReading // the last readings, at this count
	idleN     int                         // readings in idleRing since the last change
	heldUntil time.Time                   // a thread added for the queue is kept until then
}

type idleReading struct {
	at   time.Time
	idle time.Duration
}

// New returns a Controller that starts at max threads (the start-up's work
// and a login storm get all of them) and calls set with every new count;
// read returns the process's CPU time (user + system) so far.
func New(max int, set func(int), read func() time.Duration) *Controller {
	if max < 1 {
		max = 1
	}
	c := &Controller{max: max, set: set, read: read, runnable: runQueue(), idle: MachineIdle}
	c.cur.Store(int64(max))
	return c
}

// runQueue reads the runtime's count of goroutines ready to run but not
// running (the Ps' run queues and the global one, under the scheduler's
// lock; no walk over the goroutines).
func runQueue() func() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
	return func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
}

// Sampling reports whether the last interval was busy enough for Sample
// to be called every SampleEvery.
func (c *Controller) Sampling() bool { return c.used >= sampleFrom }

// Sample looks at the run queue once; Step uses the samples since the
// previous step. Called from the goroutine that calls Step.
func (c *Controller) Sample() {
	c.samples++
	if c.runnable() > 0 {
		c.queued++
	}
}

// Threads is the current count.
func (c *Controller) Threads() int { return int(c.cur.Load()) }

// Max is the most threads the Controller uses.
func (c *Controller) Max() int { return c.max }

// Changes counts the changes made so far.
func (c *Controller) Changes() uint64 { return c.changes.Load() }

// Step reads the CPU time at now and changes the count when the policy says
// so; it reports the new count and whether it changed. The first call only
// takes the reference point.
func (c *Controller) Step(now time.Time) (int, bool) {
	cpu := c.read()
	cur := int(c.cur.Load())
	if c.lastAt.IsZero() || !now.After(c.lastAt) {
		c.lastAt, c.lastCPU = now, cpu
		return cur, false
	}
	used := float64(cpu-c.lastCPU) / float64(now.Sub(c.lastAt))
	c.lastAt, c.lastCPU, c.used = now, cpu, used
	queued := 0.0
	if c.samples >= minSamples {
		queued = float64(c.queued) / float64(c.samples)
	}
	c.samples, c.queued = 0, 0
	// The machine's idle CPU counts over a streak of intervals that each
	// found a queue: idle seconds before a burst of clients say nothing
	// about the burst.
	// /proc/stat is read only while the process is busy (its start).
	waiting := queued >= queueUp && used >= queueBusy*float64(cur)
	if !waiting {
		c.idleN = 0
	}
	idle, idleKnown := 0.0, false
	if used >= sampleFrom {
		idle, idleKnown = c.idleCPUs(now)
	}
	next := cur
	switch {
	case cur < c.max && used >= upAt*float64(cur):
		next, c.lowTicks, c.heldUntil = cur+1, 0, time.Time{}
	case cur < c.max && waiting && idleKnown && idle >= idleFor:
		next, c.lowTicks, c.heldUntil = cur+1, 0, now.Add(queueHold)
	case !c.heldUntil.IsZero() && now.Before(c.heldUntil):
		c.lowTicks = 0
	case !c.heldUntil.IsZero():
		// The hold is over: give the thread back to measure again, unless
		// the CPU use alone keeps it (then the CPU rule takes over).
		c.heldUntil, c.lowTicks = time.Time{}, 0
		if cur > 1 && used < downAt*float64(cur-1) {
			next = cur - 1
		}
	case cur > 1 && used < downAt*float64(cur-1):
		c.lowTicks++
		if c.lowTicks >= downAfter {
			next, c.lowTicks = cur-1, 0
		}
	default:
		c.lowTicks = 0
	}
	if next == cur {
		return cur, false
	}
	c.idleN = 0
	c.set(next)
	c.cur.Store(int64(next))
	c.changes.Add(1)
	return next, true
}

// idleCPUs records the machine's idle time at now and reports the CPUs
// idle over the last idleWindow intervals, known once that many have
// passed since the last change of the count or the last interval that
// found no queue.
func (c *Controller) idleCPUs(now time.Time) (float64, bool) {
	r := idleReading{at: now, idle: c.idle()}
	n := len(c.idleRing)
	c.idleRing[c.idleN%n] = r
	c.idleN++
	if c.idleN <= idleWindow {
		return 0, false
	}
	first := c.idleRing[(c.idleN-1-idleWindow)%n]
	wall := r.at.Sub(first.at)
	if wall <= 0 {
		return 0, false
	}
	return float64(r.idle-first.idle) / float64(wall), true
}

// MachineIdle is the time all the machine's CPUs spent idle (or waiting
// for I/O) since boot, from /proc/stat (in 1/100 s); 0 when unreadable,
// and then the run queue adds no thread.
func MachineIdle() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	var buf [256]byte
	n, _ := io.ReadFull(f, buf[:])
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, v := range fields[4:6] { // idle, iowait
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0
		}
		ticks += x
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// Run steps every interval until ctx ends, sampling the run queue every
// sampleEvery in between while Sampling; changed (may be nil) hears of
// every change. An idle process wakes once per interval.
func (c *Controller) Run(ctx context.Context, interval, sampleEvery time.Duration, changed func(threads int)) {
	next := time.Now().Add(interval)
	c.Step(time.Now())
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.Before(next) {
				c.Sample()
				t.Reset(min(sampleEvery, next.Sub(now)))
				continue
			}
			if n, ok := c.Step(now); ok && changed != nil {
				changed(n)
			}
			next = now.Add(interval)
			if c.Sampling() {
				t.Reset(sampleEvery)
			} else {
				t.Reset(interval)
			}
		}
	}
}

// ProcessCPU is the process's user + system CPU time so far (all threads).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	descThreads = prometheus.NewDesc("rwproxy_threads",
		"OS threads running rwproxy's Go code at once (GOMAXPROCS): fixed by the threads key, "+
			"or moved between 1 and rwproxy_threads_max by the CPU rwproxy uses when threads is 0.", nil, nil)
	descMax = prometheus.NewDesc("rwproxy_threads_max",
		"The most threads rwproxy uses: the threads key, or the CPUs the process may use when it is 0.", nil, nil)
	descChanges = prometheus.NewDesc("rwproxy_threads_changes_total",
		"Changes of rwproxy_threads made by the load (threads: 0).", nil, nil)
)

// Collector exports the count, its bound and the changes; c may be nil (a
// fixed count), then threads and max are both fixed.
func Collector(c *Controller, fixed func() int) prometheus.Collector {
	return collector{c: c, fixed: fixed}
}

type collector struct {
	c     *Controller
	fixed func() int
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descThreads
	ch <- descMax
	ch <- descChanges
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	var cur, max int
	var changes uint64
	if k.c != nil {
		cur, max, changes = k.c.Threads(), k.c.Max(), k.c.Changes()
	} else {
		cur = k.fixed()
		max = cur
	}
	ch <- prometheus.MustNewConstMetric(descThreads, prometheus.GaugeValue, float64(cur))
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(max))
	ch <- prometheus.MustNewConstMetric(descChanges, prometheus.CounterValue, float64(changes))
}
