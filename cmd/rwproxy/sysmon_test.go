package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSysmonEnv: schedtrace is added to GODEBUG (alone or after the
// operator's settings) unless GODEBUG already sets it, 0 included.
func TestSysmonEnv(t *testing.T) {
	env, ok := sysmonEnv([]string{"PATH=/bin", "HOME=/root"})
	require.True(t, ok)
	require.Equal(t, []string{"PATH=/bin", "HOME=/root", "GODEBUG=schedtrace=2147483647"}, env)

	env, ok = sysmonEnv([]string{"GODEBUG=gctrace=1", "PATH=/bin"})
	require.True(t, ok)
	require.Equal(t, []string{"PATH=/bin", "GODEBUG=gctrace=1,schedtrace=2147483647"}, env)

	for _, gd := range []string{"schedtrace=0", "gctrace=1,schedtrace=1000", "schedtrace=2147483647"} {
		in := []string{"PATH=/bin", "GODEBUG=" + gd}
		env, ok = sysmonEnv(in)
		require.False(t, ok, gd)
		require.Equal(t, in, env, "kept as the operator set it")
	}
}
