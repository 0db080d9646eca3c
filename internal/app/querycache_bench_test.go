package app

import (
	"context"
	"net"
	"testing"
	"time"

	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// BenchmarkQueryCachePointSelect: a point select through an in-process
// rwproxy and a fake backend, without a caching rule and with one (every
// statement a hit after the first). cpu-us/op is the process's CPU per
// statement (client, proxy and backend together).
func BenchmarkQueryCachePointSelect(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"no_rule", 0}, {"hit", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			backend := fakebackend.Start(b, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return rowsBackend{} }})
			cfg := backendConfig(b, backend)
			if bc.ttl > 0 {
				cfg.QueryRules = []config.QueryRule{{RuleID: 1, Active: true, MatchDigest: "^SELECT", CacheTTL: bc.ttl}}
			}
			a, err := New(cfg, zap.NewNop())
			require.NoError(b, err)
			a.Start()
			b.Cleanup(func() { _ = a.Close() })
			db := openClient(b, a.Addr())
			ctx := context.Background()
			const q = "SELECT c FROM sbtest.sbtest1 WHERE id=5003"
			var v int
			require.NoError(b, db.QueryRowContext(ctx, q).Scan(&v))
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				if err := db.QueryRowContext(ctx, q).Scan(&v); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
			if bc.ttl > 0 {
				require.Positive(b, a.QueryCacheStats().Hits)
			}
		})
	}
}
