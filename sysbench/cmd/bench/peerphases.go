package main

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// muxRounds is how many statements each client of the multiplexing
// measurement runs, one per round.
const muxRounds = 3

// idlePeer measures a peer's memory per idle client as idlePhase does
// rwproxy's: RSS before, with o.idle clients logged in and idle, and after
// they closed.
func (b *bench) idlePeer(ctx context.Context, target, addr string) (*harness.Idle, error) {
	pid := b.pids[target]
	res := &harness.Idle{Target: target, Conns: b.o.idle}
	rss := func(d time.Duration) int64 {
		time.Sleep(d) // let the process settle after the logins
		kb, _ := b.proc.RSSKB(pid)
		return kb
	}
	res.RSSBeforeKB = rss(3 * time.Second)
	conns, failed, secs, err := openClients(ctx, addr, b.o.idle, "")
	defer closeClients(conns)
	if err != nil {
		return nil, err
	}
	res.OpenSeconds, res.Failed = secs, failed
	res.RSSLoginKB = rss(3 * time.Second)
	res.RSSOpenKB = rss(harness.IdleSettle - 3*time.Second)
	closeClients(conns)
	res.RSSAfterKB = rss(3 * time.Second)
	b.say("%s: %d idle clients open (%d failed): RSS %d → %d MiB, %.1f KiB per connection (%.1f KiB 3 s after the logins)", target,
		res.Conns-res.Failed, res.Failed, res.RSSBeforeKB/1024, res.RSSOpenKB/1024, res.BytesPerConn()/1024, res.BytesPerConnAtLogin()/1024)
	return res, nil
}

// idlePeers runs idlePeer for every peer that multiplexes (ProxySQL).
func (b *bench) idlePeers(ctx context.Context) {
	if b.peers.proxysql == nil || b.o.idle == 0 {
		return
	}
	i, err := b.idlePeer(ctx, harness.ProxySQL, b.proxysqlAddr())
	if err != nil {
		b.say("idle-connection measurement through proxysql failed: %v", err)
		return
	}
	b.report.IdlePeers = append(b.report.IdlePeers, *i)
}

// muxPhase is the multiplexing measurement through rwproxy, each peer and
// each -consistency variant of rwproxy. A peak of connections is one
// sample of how bursts of statements happened to meet: it runs o.muxReps
// times, interleaved, rwproxy and ProxySQL started afresh before each run
// so that each starts with empty pools (not with what the sysbench runs
// left idle in them), and the report keeps each proxy's median run.
// HAProxy (no pool) and the variants run once.
func (b *bench) muxPhase(ctx context.Context) *harness.Mux {
	m := &harness.Mux{Clients: b.o.mux, Rounds: muxRounds, Reps: b.o.muxReps}
	variant := map[string]bool{}
	for _, t := range b.variantTargets {
		variant[t.Name] = true
	}
	var targets []harness.Target
	for _, t := range b.targets {
		if t.Kind == harness.RWProxy || t.Kind == harness.ProxySQL || t.Kind == harness.HAProxy || variant[t.Name] {
			targets = append(targets, t)
		}
	}
	runs := map[string][]harness.MuxProxy{}
	for rep := range b.o.muxReps {
		for _, t := range targets {
			switch {
			case b.restartable(t):
				if err := b.restart(ctx, t); err != nil {
					b.say("multiplexing measurement: restarting %s failed: %v", t.Name, err)
					continue
				}
			case rep > 0:
				continue
			}
			p, err := b.muxThrough(ctx, t)
			if err != nil {
				b.say("multiplexing measurement through %s failed: %v", t.Name, err)
				continue
			}
			b.say("%s (run %d of %d): %d clients, %d statements (%d errors): %d backend connections at most, %d after the last round; its own pool view: %s",
				t.Name, rep+1, b.o.muxReps, p.Opened, p.Statements, p.Errors, p.BackendPeak, p.BackendIdle, b.poolView(ctx, t))
			runs[t.Name] = append(runs[t.Name], p)
		}
		if ctx.Err() != nil {
			break
		}
	}
	for _, t := range targets {
		if r := runs[t.Name]; len(r) > 0 {
			m.Proxies = append(m.Proxies, harness.MedianMux(r))
		}
	}
	return m
}

// restartable reports whether muxPhase starts t afresh between its runs:
// rwproxy itself and ProxySQL.
func (b *bench) restartable(t harness.Target) bool {
	return (t.Kind == harness.RWProxy && t.Name == harness.RWProxy && b.proxy != nil) ||
		(t.Kind == harness.ProxySQL && t.Name == harness.ProxySQL && b.peers.proxysql != nil)
}

// restart stops t's process and starts it again on the same
// configuration, waiting until it serves a read (the monitor has sorted
// the servers), so that it starts with empty pools.
func (b *bench) restart(ctx context.Context, t harness.Target) error {
	switch t.Kind {
	case harness.RWProxy:
		b.proxy.stop(10 * time.Second)
		if err := b.startRWProxy(ctx); err != nil {
			return err
		}
		if err := b.waitServes(ctx, b.proxy, b.proxyAddr()); err != nil {
			return err
		}
		b.pids[t.Name] = b.proxy.pid()
	case harness.ProxySQL:
		b.peers.proxysql.stop(10 * time.Second)
		if err := b.startProxySQL(ctx); err != nil {
			return err
		}
		b.pids[t.Name] = b.peers.proxysql.pid()
	}
	return nil
}

// muxThrough opens o.mux clients through t; in each round every client
// runs one statement (16 at a time) while a sampler counts t's backend
// connections on the servers every 250 ms.
func (b *bench) muxThrough(ctx context.Context, t harness.Target) (harness.MuxProxy, error) {
	res := harness.MuxProxy{Target: t.Name}
	pid := b.pids[t.Name]
	if pid <= 0 {
		return res, fmt.Errorf("no process to attribute backend connections to")
	}
	conns, failed, _, err := openClients(ctx, t.Addr, b.o.mux, "sbtest")
	defer closeClients(conns)
	if err != nil {
		return res, err
	}
	res.Opened = len(conns) - failed
	if n, err := b.backendConns(ctx, pid); err == nil {
		res.BackendLogin = n
	}
	// peak and byPeak: the sampler's until wg.Wait, then this goroutine's.
	var (
		peak   int
		byPeak [3]int
	)
	sample := func() {
		per, err := b.backendConnsByServer(ctx, pid)
		if err != nil {
			return
		}
		peak = max(peak, per[0]+per[1]+per[2])
		for i := range per {
			byPeak[i] = max(byPeak[i], per[i])
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	var stmts, errs, reads, updates, readNs, updateNs atomic.Int64
	began := time.Now()
	for round := range muxRounds {
		inParallel(ctx, len(conns), func(i int) {
			if conns[i] == nil {
				return
			}
			stmts.Add(1)
			at := time.Now()
			if muxStatement(ctx, conns[i], i, round) != nil {
				errs.Add(1)
				return
			}
			if took := int64(time.Since(at)); muxIsUpdate(i) {
				updates.Add(1)
				updateNs.Add(took)
			} else {
				reads.Add(1)
				readNs.Add(took)
			}
		})
	}
	res.Wall = time.Since(began)
	close(stop)
	wg.Wait()
	sample()
	res.Statements, res.Errors, res.BackendPeak, res.PeakByServer = stmts.Load(), errs.Load(), peak, byPeak
	res.Reads, res.Updates = reads.Load(), updates.Load()
	res.ReadTime, res.UpdateTime = time.Duration(readNs.Load()), time.Duration(updateNs.Load())
	per, err := b.backendConnsByServer(ctx, pid)
	if err != nil {
		return res, err
	}
	res.IdleByServer, res.BackendIdle = per, per[0]+per[1]+per[2]
	return res, ctx.Err()
}

// muxIsUpdate: every tenth client writes.
func muxIsUpdate(i int) bool { return i%10 == 0 }

// muxStatement is one client's statement of a round: a point select, or
// for every tenth client an autocommit UPDATE (a write through the
// writer, as applications mix them).
func muxStatement(ctx context.Context, c driver.Conn, i, round int) error {
	id := 1 + (i*7+round)%100
	if muxIsUpdate(i) {
		ex, ok := c.(driver.ExecerContext)
		if !ok {
			return fmt.Errorf("driver connection cannot Exec")
		}
		_, err := ex.ExecContext(ctx, fmt.Sprintf("UPDATE sbtest1 SET k = k + 1 WHERE id = %d", id), nil)
		return err
	}
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return fmt.Errorf("driver connection cannot Query")
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT c FROM sbtest1 WHERE id = %d", id), nil)
	if err != nil {
		return err
	}
	dest := make([]driver.Value, len(rows.Columns()))
	for rows.Next(dest) == nil {
	}
	return rows.Close()
}
