package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestApplyThreads: threads > 0 fixes GOMAXPROCS; 0 with the GOMAXPROCS
// environment variable keeps the runtime's value; 0 without it returns a
// controller bounded by the runtime's value (the CPUs the process may use);
// each is logged.
func TestApplyThreads(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	t.Setenv("GOMAXPROCS", "")
	core, logs := observer.New(zap.InfoLevel)
	require.Nil(t, applyThreads(zap.New(core), 1))
	require.Equal(t, 1, runtime.GOMAXPROCS(0))
	require.Equal(t, int64(1), logs.All()[0].ContextMap()["threads"])
	require.Equal(t, true, logs.All()[0].ContextMap()["from_config"])
	require.Equal(t, false, logs.All()[0].ContextMap()["by_load"])

	runtime.GOMAXPROCS(3)
	c := applyThreads(zap.New(core), 0)
	require.NotNil(t, c)
	require.Equal(t, 3, c.Max(), "by load, up to what the runtime set")
	require.Equal(t, 3, c.Threads())
	require.Equal(t, 3, runtime.GOMAXPROCS(0))
	require.Equal(t, true, logs.All()[1].ContextMap()["by_load"])

	t.Setenv("GOMAXPROCS", "3")
	require.Nil(t, applyThreads(zap.New(core), 0), "GOMAXPROCS in the environment fixes the count")
	require.Equal(t, 3, runtime.GOMAXPROCS(0))
	require.Equal(t, true, logs.All()[2].ContextMap()["from_env"])
	require.Equal(t, false, logs.All()[2].ContextMap()["by_load"])
}
