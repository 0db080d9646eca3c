package main

import (
	"testing"

	perrors "github.com/pingcap/errors"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestPlainErrors: an error that prints its stack with %+v is logged by
// its message only.
func TestPlainErrors(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	lg := zap.New(plainErrors{core})
	err := perrors.Trace(perrors.New("connection refused"))
	lg.With(zap.Error(err)).Warn("cannot connect", zap.NamedError("last_error", err), zap.String("k", "v"))
	require.Equal(t, 1, logs.Len())
	fields := logs.All()[0].ContextMap()
	require.Equal(t, "connection refused", fields["error"])
	require.Equal(t, "connection refused", fields["last_error"])
	require.Equal(t, "v", fields["k"])
	require.NotContains(t, fields, "errorVerbose")
	require.NotContains(t, fields, "last_errorVerbose")
}
