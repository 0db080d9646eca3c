package pool

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of awaitReturn: a Get that finds no idle connection takes one that
// comes back instead of opening one, while the pool had slack lately and
// the server has connections in use to wait for. No test depends on
// timing: the waits are made long (the dial average is set to a minute)
// and the slack window an hour, so a loaded machine changes nothing.

// setSlackWindow sets slackWindow to d for the test.
func setSlackWindow(t *testing.T, d time.Duration) {
	t.Helper()
	was := slackWindow
	slackWindow = d
	t.Cleanup(func() { slackWindow = was })
}

// reuseFixture is a pool with one connection, dialed, returned with no
// waiter (the pool has slack) and taken again: in use.
func reuseFixture(t *testing.T) (*poolFixture, *server, *Conn) {
	t.Helper()
	setSlackWindow(t, time.Hour)
	f := newPoolFixture(t, 10, Options{ReuseWait: time.Hour})
	c := f.mustGet(t)
	c.Recycle()
	srv := f.m.mu.servers[f.srv.Addr]
	require.NotZero(t, srv.slackAt.Load(), "a connection returned with no Get waiting marks the pool's slack")
	require.Positive(t, srv.dialNs.Load(), "the dial was timed")
	srv.dialNs.Store(int64(time.Minute))
	c = f.mustGet(t)
	require.Equal(t, int64(1), f.dials.Load())
	return f, srv, c
}

// getAsync runs a Get in the background.
func getAsync(t *testing.T, f *poolFixture) <-chan *Conn {
	t.Helper()
	out := make(chan *Conn, 1)
	go func() {
		c, err := f.get(t)
		if err != nil {
			t.Errorf("get: %v", err)
		}
		out <- c
	}()
	return out
}

// awaitWaiters waits until n Gets wait in awaitReturn.
func awaitWaiters(t *testing.T, s *server, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.awaiting.Load() == n }, 10*time.Second, time.Millisecond)
}

func TestGetTakesAReturnedConnectionInsteadOfDialing(t *testing.T) {
	f, srv, c := reuseFixture(t)
	slack := srv.slackAt.Load()
	require.Zero(t, srv.shortAt.Load())
	got := getAsync(t, f)
	awaitWaiters(t, srv, 1)
	c.Recycle()
	c2 := <-got
	require.Same(t, c, c2, "the waiting Get took the connection that came back")
	require.Equal(t, int64(1), f.dials.Load(), "no connection was opened")
	require.Equal(t, uint64(1), srv.stats.ReuseWaits.Load())
	require.Equal(t, slack, srv.slackAt.Load(), "a connection taken by a waiting Get is no slack")
	require.NotZero(t, srv.shortAt.Load(), "it marks a shortage")
	c2.Recycle()
}

func TestGetDialsWhenMoreWaitThanAreInUse(t *testing.T) {
	f, srv, c := reuseFixture(t)
	// Checkouts of 3 minutes: the second Get waiting for the one
	// connection in use has its turn after 6, later than its wait (four
	// dials of a minute).
	srv.holdNs.Store(int64(3 * time.Minute))
	first := getAsync(t, f)
	awaitWaiters(t, srv, 1)
	second := f.mustGet(t)
	require.Equal(t, int64(2), f.dials.Load(), "the second Get opened its own")
	c.Recycle()
	require.Same(t, c, <-first)
	require.Equal(t, uint64(1), srv.stats.ReuseWaits.Load())
	second.Recycle()
	c.Recycle()
}

// More Gets wait than connections are in use, but checkouts are short:
// each one's turn comes within its wait, and none opens a connection.
func TestGetWaitsItsTurnWhenCheckoutsAreShort(t *testing.T) {
	f, srv, c := reuseFixture(t)
	srv.holdNs.Store(int64(time.Second)) // turns after 1 s and 2 s, within four dials of a minute
	first := getAsync(t, f)
	awaitWaiters(t, srv, 1)
	second := getAsync(t, f)
	awaitWaiters(t, srv, 2)
	require.Equal(t, int64(1), f.dials.Load(), "neither opened a connection")
	c.Recycle()
	var got *Conn
	select {
	case got = <-first:
	case got = <-second:
	}
	require.Same(t, c, got)
	got.Recycle()
	var last *Conn
	select {
	case last = <-first:
	case last = <-second:
	}
	require.Same(t, c, last, "the other took it in turn")
	require.Equal(t, int64(1), f.dials.Load())
	require.Equal(t, uint64(2), srv.stats.ReuseWaits.Load())
	last.Recycle()
}

func TestServesInTime(t *testing.T) {
	var s server
	require.False(t, s.servesInTime(2, 1, time.Hour), "no checkout timed yet")
	s.holdNs.Store(int64(10 * time.Millisecond))
	require.True(t, s.servesInTime(2, 1, 20*time.Millisecond), "two checkouts of 10 ms")
	require.False(t, s.servesInTime(3, 1, 20*time.Millisecond))
	require.True(t, s.servesInTime(8, 4, 20*time.Millisecond), "two rounds of four")
	require.False(t, s.servesInTime(9, 4, 20*time.Millisecond))
	require.False(t, s.servesInTime(1, 0, time.Hour), "nothing in use")
}

func TestTimeHold(t *testing.T) {
	var s server
	s.timeHold(8*time.Millisecond, 50*time.Millisecond)
	require.Equal(t, int64(8*time.Millisecond), s.holdNs.Load(), "the first sets it")
	s.timeHold(16*time.Millisecond, 50*time.Millisecond)
	require.Equal(t, int64(9*time.Millisecond), s.holdNs.Load(), "weight 1/8")
	s.timeHold(time.Hour, 50*time.Millisecond)
	require.Equal(t, int64(9*time.Millisecond+(41*time.Millisecond)/8), s.holdNs.Load(), "a long checkout counts as the cap")
}

func TestGetDialsWithNothingInUse(t *testing.T) {
	f := newPoolFixture(t, 10, Options{ReuseWait: time.Hour})
	c := f.mustGet(t)
	c.Discard()
	srv := f.m.mu.servers[f.srv.Addr]
	srv.dialNs.Store(int64(time.Minute))
	srv.slackAt.Store(time.Now().UnixNano())
	// Nothing in use can come back: waiting a minute would fail the Get
	// (10 s context).
	c = f.mustGet(t)
	require.Equal(t, int64(2), f.dials.Load())
	require.Zero(t, srv.stats.ReuseWaits.Load())
	c.Recycle()
}

func TestGetDialsUnderSustainedDemand(t *testing.T) {
	f, srv, c := reuseFixture(t)
	// Every connection that came back for the slack window went to a
	// waiting Get: the pool is smaller than the load and grows.
	now := time.Now()
	srv.slackAt.Store(now.Add(-3 * time.Hour).UnixNano())
	srv.shortSince.Store(now.Add(-2 * time.Hour).UnixNano())
	srv.shortAt.Store(now.UnixNano())
	c2 := f.mustGet(t)
	require.Equal(t, int64(2), f.dials.Load())
	require.Zero(t, srv.stats.ReuseWaits.Load())
	c.Recycle()
	c2.Recycle()
}

// A connection being opened counts as one that will come back: a Get that
// finds the pool empty while another Get's dial is under way waits for
// that connection instead of opening its own.
func TestGetWaitsForAConnectionBeingOpened(t *testing.T) {
	f := newPoolFixture(t, 10, Options{ReuseWait: time.Hour})
	setSlackWindow(t, time.Hour)
	c := f.mustGet(t)
	c.Recycle()
	srv := f.m.mu.servers[f.srv.Addr]
	srv.dialNs.Store(int64(time.Minute))
	f.mustGet(t).Discard() // the pool is empty, nothing in use
	hold := make(chan struct{})
	f.hold.Store(&hold)
	opening := getAsync(t, f)
	require.Eventually(t, func() bool { return srv.dialing.Load() == 1 }, 10*time.Second, time.Millisecond)
	require.Zero(t, srv.stats.ConnUsed.Load())
	waiting := getAsync(t, f)
	awaitWaiters(t, srv, 1)
	require.Equal(t, int64(2), f.dials.Load(), "the second Get opened nothing")
	close(hold)
	opened := <-opening
	require.Zero(t, srv.dialing.Load())
	opened.Recycle()
	require.Same(t, opened, <-waiting, "the waiting Get took the connection that was being opened")
	require.Equal(t, int64(2), f.dials.Load())
	require.Equal(t, uint64(1), srv.stats.ReuseWaits.Load())
	opened.Recycle()
}

// A wait that runs out with nothing back from the server meanwhile (it
// answers nothing at the moment) goes on, up to ReuseWait, instead of
// opening a connection the server would log in no sooner.
func TestGetWaitsOnWhileTheServerReturnsNothing(t *testing.T) {
	f, srv, c := reuseFixture(t)
	srv.dialNs.Store(int64(250 * time.Microsecond)) // a first wait of 1 ms
	srv.slackAt.Store(time.Now().Add(-time.Hour).UnixNano())
	got := getAsync(t, f)
	require.Eventually(t, func() bool { return srv.stats.StallWaits.Load() == 1 }, 10*time.Second, time.Millisecond,
		"the first wait ran out and went on")
	c.Recycle()
	require.Same(t, c, <-got, "the Get took the connection that came back after its first wait")
	require.Equal(t, int64(1), f.dials.Load(), "no connection was opened")
	require.Equal(t, uint64(1), srv.stats.ReuseWaits.Load())
	c.Recycle()
}

// When connections did come back meanwhile (to other Gets), the server
// answers: the demand is larger than the pool, and the Get opens one once
// its first wait runs out.
func TestGetDialsAfterItsWaitWhenTheServerAnswers(t *testing.T) {
	f, srv, c := reuseFixture(t)
	srv.dialNs.Store(int64(250 * time.Microsecond))
	// A return recorded after the Get began to wait (in the future here:
	// the test does not race the 1 ms timer).
	srv.slackAt.Store(time.Now().Add(time.Hour).UnixNano())
	c2 := f.mustGet(t)
	require.Equal(t, int64(2), f.dials.Load(), "the Get opened a connection")
	require.Zero(t, srv.stats.StallWaits.Load())
	require.Zero(t, srv.stats.ReuseWaits.Load())
	c.Recycle()
	c2.Recycle()
}

func TestReturnedSince(t *testing.T) {
	ms := int64(time.Millisecond)
	var s server
	require.False(t, s.returnedSince(10*ms), "nothing came back yet")
	s.slackAt.Store(5 * ms)
	require.False(t, s.returnedSince(10*ms))
	require.True(t, s.returnedSince(5*ms))
	require.True(t, s.returnedSince(6*ms), "within the millisecond markReturn does not record")
	s.shortAt.Store(12 * ms)
	require.True(t, s.returnedSince(10*ms), "a return to a waiting Get counts")
	require.False(t, s.returnedSince(14*ms))
}

// markReturn: a run of returns to waiting Gets begins at the first one
// after a return with slack, or after none came back for slackWindow.
func TestMarkReturnShortRuns(t *testing.T) {
	setSlackWindow(t, 100*time.Millisecond)
	ms := int64(time.Millisecond)
	var s server
	base := int64(time.Hour)
	s.markReturn(base, false)
	require.Equal(t, base, s.slackAt.Load())
	require.False(t, s.shortForGood(base))
	s.markReturn(base+2*ms, true)
	require.Equal(t, base+2*ms, s.shortSince.Load(), "the first return to a waiting Get begins a run")
	for at := base + 10*ms; at <= base+150*ms; at += 10 * ms {
		s.markReturn(at, true)
	}
	require.Equal(t, base+2*ms, s.shortSince.Load(), "the run goes on")
	require.Equal(t, base+150*ms, s.shortAt.Load())
	require.False(t, s.shortForGood(base+100*ms), "a run of 98 ms is not a shortage for good")
	require.True(t, s.shortForGood(base+150*ms), "148 ms of returns only to waiting Gets is")
	s.markReturn(base+160*ms, false)
	s.markReturn(base+160*ms+ms/2, false)
	require.Equal(t, base+160*ms, s.slackAt.Load(), "marks are written at most once a millisecond")
	require.False(t, s.shortForGood(base+161*ms), "a return with slack ends it")
	s.markReturn(base+170*ms, true)
	require.Equal(t, base+170*ms, s.shortSince.Load(), "and the next return to a waiting Get begins a new run")
	s.markReturn(base+400*ms, true)
	require.Equal(t, base+400*ms, s.shortSince.Load(), "so does one after nothing came back for longer than the window")
	require.False(t, s.shortForGood(base+401*ms))
}

// A burst that is no shortage for good waits for the connections in use:
// after a quiet spell (no connection came back for long, to a waiting Get
// or not: the pool was idle, not short), and at the start of a shortage
// (a burst on a pool that had no return with slack for long, or none yet:
// a new pool). Before, the first connection that came back to a waiting
// Get in such a burst made every following Get of it open one at once.
func TestGetWaitsWhenNotShortForGood(t *testing.T) {
	for name, marks := range map[string]struct{ slack, since, short time.Duration }{
		"after a quiet spell":        {slack: -2 * time.Hour, since: -2 * time.Hour, short: -2 * time.Hour},
		"at the start of a shortage": {slack: -3 * time.Hour, since: 0, short: 0},
	} {
		t.Run(name, func(t *testing.T) {
			f, srv, c := reuseFixture(t)
			now := time.Now()
			srv.slackAt.Store(now.Add(marks.slack).UnixNano())
			srv.shortSince.Store(now.Add(marks.since).UnixNano())
			srv.shortAt.Store(now.Add(marks.short).UnixNano())
			got := getAsync(t, f)
			awaitWaiters(t, srv, 1)
			c.Recycle()
			require.Same(t, c, <-got)
			require.Equal(t, int64(1), f.dials.Load())
			require.Equal(t, uint64(1), srv.stats.ReuseWaits.Load())
			c.Recycle()
		})
	}
}

func TestGetDialsWithReuseWaitOff(t *testing.T) {
	f := newPoolFixture(t, 10, Options{})
	c := f.mustGet(t)
	c.Recycle()
	c = f.mustGet(t)
	srv := f.m.mu.servers[f.srv.Addr]
	require.NotZero(t, srv.slackAt.Load())
	c2 := f.mustGet(t)
	require.Equal(t, int64(2), f.dials.Load())
	require.Zero(t, srv.stats.ReuseWaits.Load())
	c.Recycle()
	c2.Recycle()
}

func TestTimeDialAverages(t *testing.T) {
	var s server
	s.timeDial(8 * time.Millisecond)
	require.Equal(t, int64(8*time.Millisecond), s.dialNs.Load(), "the first dial sets the average")
	s.timeDial(16 * time.Millisecond)
	require.Equal(t, int64(9*time.Millisecond), s.dialNs.Load(), "then each moves it by an eighth of the difference")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { s.timeDial(9 * time.Millisecond) })
	}
	wg.Wait()
	require.Equal(t, int64(9*time.Millisecond), s.dialNs.Load())
}
