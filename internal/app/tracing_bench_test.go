package app

import (
	"context"
	"database/sql"
	"net"
	"syscall"
	"testing"
	"time"

	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/tracing"
)

// BenchmarkTracePointSelect: a sysbench-style point select through an
// in-process rwproxy and a fake backend, tracing off, at 1% and at 100%
// sampling (spans exported to a no-op exporter through the real queue),
// and with a traffic capture running (tracing off).
// cpu-us/op is the process's user+system CPU per statement (client,
// proxy and backend together: the differences between the rows are
// tracing's cost).
func BenchmarkTracePointSelect(b *testing.B) {
	for _, bc := range []struct {
		name    string
		ratio   float64 // < 0: tracing off
		capture bool
	}{{"off", -1, false}, {"sampled_1pct", 0.01, false}, {"sampled_100pct", 1, false}, {"capture", -1, true}} {
		b.Run(bc.name, func(b *testing.B) {
			db, a := benchProxy(b, bc.ratio)
			if bc.capture {
				require.NoError(b, a.Capture.Start(capture.Options{Dir: b.TempDir()}))
				b.Cleanup(func() {
					s, err := a.Capture.Stop()
					require.NoError(b, err)
					b.ReportMetric(float64(s.Dropped), "dropped")
				})
			}
			ctx := context.Background()
			var v int
			require.NoError(b, db.QueryRowContext(ctx, "SELECT c FROM sbtest1 WHERE id=1").Scan(&v))
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				if err := db.QueryRowContext(ctx, "SELECT c FROM sbtest1 WHERE id=5003").Scan(&v); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// benchProxy is startTracedProxy for benchmarks: quiet logs, no-op
// exporter, tracing off for ratio < 0.
func benchProxy(b *testing.B, ratio float64) (*sql.DB, *App) {
	b.Helper()
	backend := fakebackend.Start(b, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return rowsBackend{} }})
	a, err := New(backendConfig(b, backend), zap.NewNop())
	require.NoError(b, err)
	if ratio >= 0 {
		tc := config.DefaultTracing()
		tc.Enabled, tc.SamplingRatio = true, ratio
		a.SetTracer(tracing.NewWithExporter(tc, tracetest.NewNoopExporter()))
	}
	b.Cleanup(func() { _ = a.Close() })
	require.NoError(b, a.Start())
	return openClient(b, a.Addr()), a
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
