package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// The fault runs use this client instead of sysbench: sysbench 1.0.20 with
// Debian's libmariadb3 dies with SIGSEGV (in libmariadb.so.3) when a
// connection it would reconnect is cut, with --mysql-ignore-errors=all and
// either --db-ps-mode, so it cannot run through a fault that drops client
// connections. This client keeps going: an error fails the event, is
// counted, and the next event takes a (new) connection from database/sql.

// Load kinds of the fault client, after sysbench's workloads.
const (
	loadReadWrite = "read_write" // BEGIN; 10 point selects; UPDATE ... k=k+1; COMMIT (13 statements)
	loadReadOnly  = "read_only"  // 10 autocommit point selects (split over the secondaries)
)

type loadSpec struct {
	addr         string
	kind         string
	threads      int
	seconds      int
	tables, rows int
}

// loadResult is what the client counted, per second and in total.
type loadResult struct {
	intervals       []harness.Interval
	queries, errors int64
	events          int64
	firstErr        string
	errKinds        map[string]int64 // error message (first 100 bytes) → count
	p95Ms           float64
	cpuSeconds      float64 // of this process during the run (the client and the write log)
	wall            time.Duration
	latencies       []time.Duration
}

type workerStats struct {
	queries, errors, events map[int]int64
	lat                     map[int][]time.Duration
	firstErr                string
	kinds                   map[string]int64
}

func runLoad(ctx context.Context, sp loadSpec) (loadResult, error) {
	db, err := sql.Open("mysql", "app:app@tcp("+sp.addr+")/sbtest?interpolateParams=true&timeout=2s&readTimeout=10s&writeTimeout=10s")
	if err != nil {
		return loadResult{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(sp.threads)
	db.SetMaxIdleConns(sp.threads)
	cpu0 := processCPU()
	t0 := time.Now()
	end := t0.Add(time.Duration(sp.seconds) * time.Second)
	stats := make([]*workerStats, sp.threads)
	var wg sync.WaitGroup
	for i := range stats {
		ws := &workerStats{queries: map[int]int64{}, errors: map[int]int64{}, events: map[int]int64{},
			lat: map[int][]time.Duration{}, kinds: map[string]int64{}}
		stats[i] = ws
		rng := rand.New(rand.NewPCG(uint64(i), uint64(t0.UnixNano())))
		wg.Go(func() { ws.loop(ctx, db, sp, rng, t0, end) })
	}
	wg.Wait()
	res := loadResult{wall: time.Since(t0), cpuSeconds: processCPU() - cpu0}
	res.merge(stats, sp)
	return res, ctx.Err()
}

func (ws *workerStats) loop(ctx context.Context, db *sql.DB, sp loadSpec, rng *rand.Rand, t0, end time.Time) {
	for ctx.Err() == nil && time.Now().Before(end) {
		start := time.Now()
		n, err := event(ctx, db, sp, rng)
		sec := int(time.Since(t0).Seconds()) + 1 // the second the event ended in, 1-based like sysbench
		ws.queries[sec] += int64(n)
		if err != nil {
			ws.errors[sec]++
			msg := err.Error()
			ws.kinds[msg[:min(len(msg), 100)]]++
			if ws.firstErr == "" {
				ws.firstErr = err.Error()
			}
			_ = sleep(ctx, 10*time.Millisecond) // no busy loop against a refusing endpoint
			continue
		}
		ws.events[sec]++
		ws.lat[sec] = append(ws.lat[sec], time.Since(start))
	}
}

// event runs one transaction (or batch of reads) and returns how many
// statements succeeded.
func event(ctx context.Context, db *sql.DB, sp loadSpec, rng *rand.Rand) (int, error) {
	table := fmt.Sprintf("sbtest%d", 1+rng.IntN(sp.tables))
	var c string
	if sp.kind == loadReadOnly {
		for i := 0; i < 10; i++ {
			if err := db.QueryRowContext(ctx, "SELECT c FROM "+table+" WHERE id = ?", 1+rng.IntN(sp.rows)).Scan(&c); err != nil {
				return i, err
			}
		}
		return 10, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	n := 1
	for i := 0; i < 10; i++ {
		if err := tx.QueryRowContext(ctx, "SELECT c FROM "+table+" WHERE id = ?", 1+rng.IntN(sp.rows)).Scan(&c); err != nil {
			_ = tx.Rollback()
			return n, err
		}
		n++
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET k = k + 1 WHERE id = ?", 1+rng.IntN(sp.rows)); err != nil {
		_ = tx.Rollback()
		return n, err
	}
	n++
	if err := tx.Commit(); err != nil {
		return n, err
	}
	return n + 1, nil
}

func (res *loadResult) merge(stats []*workerStats, sp loadSpec) {
	secs := 0
	perSec := map[int][]time.Duration{}
	var q, e, ev = map[int]int64{}, map[int]int64{}, map[int]int64{}
	for _, ws := range stats {
		for s, v := range ws.queries {
			q[s] += v
			secs = max(secs, s)
		}
		for s, v := range ws.errors {
			e[s] += v
			secs = max(secs, s)
		}
		for s, v := range ws.events {
			ev[s] += v
		}
		for s, l := range ws.lat {
			perSec[s] = append(perSec[s], l...)
			res.latencies = append(res.latencies, l...)
		}
		if res.firstErr == "" {
			res.firstErr = ws.firstErr
		}
		if res.errKinds == nil {
			res.errKinds = map[string]int64{}
		}
		for k, v := range ws.kinds {
			res.errKinds[k] += v
		}
	}
	for s := 1; s <= min(secs, sp.seconds); s++ {
		res.intervals = append(res.intervals, harness.Interval{T: float64(s), Threads: sp.threads,
			TPS: float64(ev[s]), QPS: float64(q[s]), P95Ms: p95(perSec[s]), ErrPS: float64(e[s])})
		res.queries += q[s]
		res.errors += e[s]
		res.events += ev[s]
	}
	res.p95Ms = p95(res.latencies)
	res.latencies = nil
}

// topErrors lists the most frequent error messages with their counts.
func topErrors(kinds map[string]int64, n int) []string {
	type kv struct {
		k string
		v int64
	}
	var all []kv
	for k, v := range kinds {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var out []string
	for _, x := range all[:min(n, len(all))] {
		out = append(out, fmt.Sprintf("%d× %q", x.v, x.k))
	}
	return out
}

func p95(l []time.Duration) float64 {
	if len(l) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[(len(s)*95+99)/100-1].Microseconds()) / 1000
}

// processCPU is this process's user+system CPU seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
