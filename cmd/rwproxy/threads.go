package main

import (
	"runtime"

	"go.uber.org/zap"
)

// applyThreads sets GOMAXPROCS from the threads key (0: the Go runtime's
// default, or the GOMAXPROCS environment variable, is kept) and logs what
// runs.
func applyThreads(lg *zap.Logger, threads int) {
	if threads > 0 {
		runtime.GOMAXPROCS(threads)
	}
	lg.Info("threads", zap.Int("threads", runtime.GOMAXPROCS(0)), zap.Int("cpus", runtime.NumCPU()),
		zap.Bool("from_config", threads > 0))
}
