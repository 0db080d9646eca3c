package app

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
)

// schedMaxOutput is how much of a failed run's output is logged.
const schedMaxOutput = 1024

// schedMinTimeout is the least time a run may take before it is stopped.
const schedMinTimeout = time.Minute

// scheduler runs the configuration's scheduler jobs (ProxySQL's
// scheduler): one goroutine per active job.
type scheduler struct {
	mu sync.Mutex
	// jobs by id: what runs, and how to stop it.
	jobs map[int]*schedRun
}

type schedRun struct {
	job    config.SchedulerJob
	cancel context.CancelFunc
	done   chan struct{}
}

// apply makes the running jobs those of jobs: changed and removed ones
// stop (a run in progress is killed), new ones start.
func (s *scheduler) apply(lg *zap.Logger, jobs []config.SchedulerJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		s.jobs = make(map[int]*schedRun)
	}
	want := make(map[int]config.SchedulerJob)
	for _, j := range jobs {
		if j.IsActive() {
			want[j.ID] = j
		}
	}
	for id, r := range s.jobs {
		if j, ok := want[id]; !ok || !reflect.DeepEqual(j, r.job) {
			r.cancel()
			<-r.done
			delete(s.jobs, id)
		}
	}
	for id, j := range want {
		if _, ok := s.jobs[id]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &schedRun{job: j, cancel: cancel, done: make(chan struct{})}
		s.jobs[id] = r
		go schedLoop(ctx, lg, r)
	}
}

// stop ends every job and waits for them.
func (s *scheduler) stop() { s.apply(nil, nil) }

func schedLoop(ctx context.Context, lg *zap.Logger, r *schedRun) {
	defer close(r.done)
	t := time.NewTicker(r.job.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A run longer than the interval makes the ticker drop the
			// ticks it missed: runs never pile up.
			runJob(ctx, lg, r.job)
		}
	}
}

// limitedBuffer keeps the first schedMaxOutput bytes written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := schedMaxOutput - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func runJob(ctx context.Context, lg *zap.Logger, j config.SchedulerJob) {
	ctx, cancel := context.WithTimeout(ctx, max(j.Interval, schedMinTimeout))
	defer cancel()
	var out limitedBuffer
	cmd := exec.CommandContext(ctx, j.Filename, j.Args...) //nolint:gosec // the operator's configured script
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) { // not stopped by apply/stop
		lg.Warn("scheduler job failed", zap.Int("id", j.ID), zap.String("filename", j.Filename),
			zap.Duration("took", time.Since(start)), zap.Error(err), zap.ByteString("output", out.b))
		return
	}
	if err == nil {
		lg.Debug("scheduler job ran", zap.Int("id", j.ID), zap.String("filename", j.Filename),
			zap.Duration("took", time.Since(start)))
	}
}
