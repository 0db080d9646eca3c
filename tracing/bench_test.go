package tracing

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkStmt: the tracer's own cost per statement, at 1% and 100%
// sampling, with the three child spans a pooled read has.
func BenchmarkStmt(b *testing.B) {
	for _, bc := range []struct {
		name  string
		ratio float64
	}{{"sampled_1pct", 0.01}, {"sampled_100pct", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig(bc.ratio)
			tr := NewWithExporter(cfg, tracetest.NewNoopExporter())
			b.Cleanup(func() { _ = tr.Close(context.Background()) })
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				st := tr.Start("SELECT c FROM sbtest1 WHERE id=5003", "", OpQuery, now)
				if st == nil {
					continue
				}
				st.Digest, st.Namespace, st.Hostgroup, st.Addr, st.Reason = "SELECT `c` FROM `sbtest1` WHERE `id` = ?", "sbtest", 20, "127.0.0.1:3307", "read"
				st.PoolStart, st.BackendStart, st.BackendEnd = now, now, now
				st.End(now)
			}
		})
	}
}
