package main

import (
	"context"
	"os"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/internal/threads"
)

// applyThreads sets GOMAXPROCS from the threads key and logs what runs.
// threads > 0, or the GOMAXPROCS environment variable, fixes the count; at
// 0 the returned Controller (nil otherwise) moves it between 1 and the CPUs
// the process may use by the CPU rwproxy uses, once started with
// runThreads.
func applyThreads(lg *zap.Logger, n int) *threads.Controller {
	fromEnv := os.Getenv("GOMAXPROCS") != ""
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	var c *threads.Controller
	if n == 0 && !fromEnv {
		c = threads.New(runtime.GOMAXPROCS(0), func(k int) { runtime.GOMAXPROCS(k) }, threads.ProcessCPU)
	}
	lg.Info("threads", zap.Int("threads", runtime.GOMAXPROCS(0)), zap.Int("cpus", runtime.NumCPU()),
		zap.Bool("from_config", n > 0), zap.Bool("from_env", n == 0 && fromEnv), zap.Bool("by_load", c != nil))
	return c
}

// runThreads runs c (when not nil) until ctx ends, logging its changes at
// debug level.
func runThreads(ctx context.Context, lg *zap.Logger, c *threads.Controller) {
	if c == nil {
		return
	}
	go c.Run(ctx, threads.Interval, threads.SampleEvery, func(n int) { lg.Debug("threads changed by load", zap.Int("threads", n)) })
}

// threadsCollector exports the thread count (fixed or by load).
func threadsCollector(c *threads.Controller) prometheus.Collector {
	return threads.Collector(c, func() int { return runtime.GOMAXPROCS(0) })
}
