package main

import (
	"context"
	"database/sql/driver"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// idlePhase opens o.idle client connections through rwproxy, leaves them
// idle, and measures rwproxy's resident memory before, with them open and
// after they closed; while they are open it runs the point-select cell of
// the QPS target through rwproxy once more, to show rwproxy still serves
// at full speed.
func (b *bench) idlePhase(ctx context.Context) (*harness.Idle, error) {
	pid := b.pids[harness.RWProxy]
	res := &harness.Idle{Conns: b.o.idle}
	settle := func(d time.Duration) int64 {
		time.Sleep(d) // let the runtime's scavenger and GC catch up
		kb, _ := b.proc.RSSKB(pid)
		return kb
	}
	res.RSSBeforeKB = settle(3 * time.Second)
	b.say("opening %d idle client connections through rwproxy (RSS %d MiB)", b.o.idle, res.RSSBeforeKB/1024)
	conns, failed, secs, err := openClients(ctx, b.proxyAddr(), b.o.idle, "")
	defer closeClients(conns)
	if err != nil {
		return nil, err
	}
	res.OpenSeconds, res.Failed = secs, failed
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.RSSLoginKB = settle(3 * time.Second)
	res.RSSOpenKB = settle(harness.IdleSettle - 3*time.Second)
	b.say("%d open (%d failed) in %.1f s; rwproxy RSS %d MiB: %.1f KiB per connection (%.1f KiB 3 s after the logins)", res.Conns-res.Failed,
		res.Failed, res.OpenSeconds, res.RSSOpenKB/1024, res.BytesPerConn()/1024, res.BytesPerConnAtLogin()/1024)

	s := harness.Step{Workload: harness.TargetWorkload, Threads: harness.QPSThreads, Rep: 1, Target: harness.RWProxy}
	r, err := b.runStep(ctx, 0, s, b.proxyAddr())
	if err != nil {
		return nil, err
	}
	res.Run = &r
	if c, ok := harness.FindCell(harness.Aggregate(b.report.Runs), s.Workload, s.Threads, harness.RWProxy); ok {
		res.BaselineQPS = c.QPS
	}
	b.say("with them open: %s", harness.ProgressLine(1, 1, s, r, 0))

	closeClients(conns)
	// rwproxy gives the memory back within 5 s of a large drop in sessions
	// (internal/app/memtrim.go).
	res.RSSAfterKB = settle(8 * time.Second)
	return res, nil
}

// openClients logs n clients in through addr, 16 at a time, and returns
// them (nil where the login failed), the failures and the seconds it took.
func openClients(ctx context.Context, addr string, n int, schema string) ([]driver.Conn, int, float64, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "app", "app", manyClientsNetwork(), addr, schema
	cfg.Timeout = 30 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, 0, 0, err
	}
	conns := make([]driver.Conn, n)
	var failed atomic.Int64
	t0 := time.Now()
	inParallel(ctx, n, func(i int) {
		c, err := conn.Connect(ctx)
		if err != nil {
			failed.Add(1)
			return
		}
		conns[i] = c
	})
	return conns, int(failed.Load()), time.Since(t0).Seconds(), ctx.Err()
}

// inParallel calls fn(0) ... fn(n-1), 16 at a time, until ctx ends.
func inParallel(ctx context.Context, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// closeClients closes every open client of conns.
func closeClients(conns []driver.Conn) {
	for i, c := range conns {
		if c != nil {
			_ = c.Close()
			conns[i] = nil
		}
	}
}
