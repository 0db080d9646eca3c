package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestApplyThreads: threads > 0 sets GOMAXPROCS; 0 leaves the runtime's
// value; both are logged.
func TestApplyThreads(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	core, logs := observer.New(zap.InfoLevel)
	applyThreads(zap.New(core), 1)
	require.Equal(t, 1, runtime.GOMAXPROCS(0))
	require.Equal(t, int64(1), logs.All()[0].ContextMap()["threads"])
	require.Equal(t, true, logs.All()[0].ContextMap()["from_config"])

	runtime.GOMAXPROCS(3)
	applyThreads(zap.New(core), 0)
	require.Equal(t, 3, runtime.GOMAXPROCS(0), "0 keeps what the runtime (or GOMAXPROCS) set")
	require.Equal(t, false, logs.All()[1].ContextMap()["from_config"])
}
