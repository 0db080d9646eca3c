package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/internal/writelog"
	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// Fault is one run with a fault in the middle and what it did to clients.
type Fault struct {
	Name     string         `json:"name"` // proxy_kill, primary_kill, config_change
	Title    string         `json:"title"`
	Run      Run            `json:"run"`
	Marks    []harness.Mark `json:"marks"`
	Timeline Timeline       `json:"timeline"`
	// PropagationMs: config_change, how long proxy2 and proxy3 took to run
	// the change made on proxy1.
	PropagationMs []float64 `json:"propagation_ms,omitempty"`
	Writer        *Writer   `json:"writer,omitempty"` // primary_kill
	Notes         []string  `json:"notes,omitempty"`
}

// Writer is the acknowledged-write check of the primary kill.
type Writer struct {
	Acked        int     `json:"acked"`
	Failed       int     `json:"failed"`
	FirstErr     string  `json:"first_error,omitempty"`
	Lost         int     `json:"lost"` // acknowledged and missing on the new primary: must be 0
	LostIDs      []int64 `json:"lost_ids,omitempty"`
	OnServer     int     `json:"rows_on_new_primary"`
	StallSeconds float64 `json:"stall_seconds"` // longest time without an acknowledged write
	StallEndedAt float64 `json:"stall_ended_at"`
	OldPrimary   int     `json:"old_primary"`
	NewPrimary   int     `json:"new_primary"`
	RejoinSecs   float64 `json:"rejoin_seconds"` // mgr-start of the killed member until ONLINE
}

// Timeline sums up the per-second QPS around a fault at At.
type Timeline struct {
	At          float64 `json:"at"`
	BaselineQPS float64 `json:"baseline_qps"` // median QPS of the seconds before the fault
	// LowSeconds: seconds after the fault below half the baseline.
	LowSeconds int `json:"low_seconds"`
	// RecoveredAfter: from the fault to the end of the first second, after
	// the last one below 80% of the baseline, back at >= 80% (0: no dip).
	RecoveredAfter float64 `json:"recovered_after_s"`
	Errors         float64 `json:"errors"` // from the per-second err/s, summed
	Reconnects     float64 `json:"reconnects"`
	FirstErrorAt   float64 `json:"first_error_at,omitempty"`
	LastErrorAt    float64 `json:"last_error_at,omitempty"`
}

// AnalyzeTimeline computes a Timeline from sysbench's per-second lines
// (each at the end of its second) and the fault's instant.
func AnalyzeTimeline(ivs []harness.Interval, at float64) Timeline {
	tl := Timeline{At: at}
	var before []float64
	for _, iv := range ivs {
		if iv.T > 1 && iv.T <= at {
			before = append(before, iv.QPS)
		}
		if iv.ErrPS > 0 || iv.ReconnPS > 0 {
			if tl.FirstErrorAt == 0 {
				tl.FirstErrorAt = iv.T
			}
			tl.LastErrorAt = iv.T
		}
		tl.Errors += iv.ErrPS
		tl.Reconnects += iv.ReconnPS
	}
	tl.BaselineQPS = harness.Median(before)
	lastLow := -1.0
	for _, iv := range ivs {
		if iv.T <= at {
			continue
		}
		if iv.QPS < tl.BaselineQPS/2 {
			tl.LowSeconds++
		}
		if iv.QPS < 0.8*tl.BaselineQPS {
			lastLow = iv.T
		}
	}
	if lastLow < 0 {
		return tl
	}
	for _, iv := range ivs {
		if iv.T > lastLow && iv.QPS >= 0.8*tl.BaselineQPS {
			tl.RecoveredAfter = iv.T - at
			return tl
		}
	}
	tl.RecoveredAfter = -1 // never recovered within the run
	return tl
}

func (s *study) faults(ctx context.Context) error {
	killHealthz := func(ctx context.Context) (Fault, error) { return s.primaryKill(ctx, "primary_kill", "/healthz") }
	killReadyz := func(ctx context.Context) (Fault, error) { return s.primaryKill(ctx, "primary_kill_readyz", "/readyz") }
	for _, f := range []func(context.Context) (Fault, error){s.configChange, s.proxyKill, killHealthz, killReadyz} {
		fl, err := f(ctx)
		if fl.Name != "" {
			fl.Timeline = AnalyzeTimeline(fl.Run.Intervals, fl.Timeline.At)
			s.res.Faults = append(s.res.Faults, fl)
			say("%s: %d errors, %d reconnects, baseline %.0f QPS, %d s below half, recovered after %.1f s; %s",
				fl.Name, fl.Run.IgnoredErrors, fl.Run.Reconnects, fl.Timeline.BaselineQPS, fl.Timeline.LowSeconds,
				fl.Timeline.RecoveredAfter, strings.Join(fl.Notes, "; "))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// at waits until second sec of the run that started at t0.
func at(ctx context.Context, t0 time.Time, sec float64) error {
	return sleep(ctx, time.Until(t0.Add(time.Duration(sec*float64(time.Second)))))
}

func since(t0 time.Time) float64 { return time.Since(t0).Seconds() }

// configChange: a server's weight changed on proxy1 while reads run
// through the chain; how long the others take to run it, and errors.
func (s *study) configChange(ctx context.Context) (Fault, error) {
	ms, err := s.chain.members(ctx)
	if err != nil {
		return Fault{}, err
	}
	secs := secondaries(ms)
	_, port, _ := strings.Cut(s.chain.memberAddr(secs[0]), ":")
	f := Fault{Name: "config_change", Title: fmt.Sprintf("configuration change on proxy1 (member%d weight 1 → 3) during autocommit point selects", secs[0])}
	st := harness.Step{Workload: "read_only (fault client)", Threads: 8, Rep: 1, Target: cfgChain}
	r, err := s.measure(ctx, st, s.loadWork(st, loadReadOnly, s.o.faultSec), func(ctx context.Context, t0 time.Time) error {
		if err := at(ctx, t0, float64(s.o.faultAt)); err != nil {
			return err
		}
		f.Timeline.At = since(t0)
		f.Marks = append(f.Marks, harness.Mark{At: f.Timeline.At, Label: "UPDATE + LOAD on proxy1"})
		took, err := s.changeServers(ctx, "UPDATE mysql_servers SET weight = 3 WHERE port = "+port)
		for _, d := range took {
			f.PropagationMs = append(f.PropagationMs, float64(d.Microseconds())/1000)
		}
		f.Marks = append(f.Marks, harness.Mark{At: f.Timeline.At + took[1].Seconds(), Label: "proxy2 and proxy3 run it"})
		return err
	})
	f.Run = r
	if err != nil {
		return f, err
	}
	f.Notes = append(f.Notes, fmt.Sprintf("proxy2 ran it after %.0f ms, proxy3 after %.0f ms", f.PropagationMs[0], f.PropagationMs[1]))
	_, err = s.changeServers(ctx, "UPDATE mysql_servers SET weight = 1 WHERE port = "+port)
	return f, err
}

// proxyKill: rwproxy node 2 killed with SIGKILL during oltp_read_write
// through the chain, started again 15 s later.
func (s *study) proxyKill(ctx context.Context) (Fault, error) {
	f := Fault{Name: "proxy_kill", Title: "rwproxy node proxy2 killed (SIGKILL) during read/write transactions, restarted 15 s later"}
	st := harness.Step{Workload: "read_write (fault client)", Threads: 8, Rep: 1, Target: cfgChain}
	r, err := s.measure(ctx, st, s.loadWork(st, loadReadWrite, s.o.faultSec), func(ctx context.Context, t0 time.Time) error {
		if err := at(ctx, t0, float64(s.o.faultAt)); err != nil {
			return err
		}
		f.Timeline.At = since(t0)
		f.Marks = append(f.Marks, harness.Mark{At: f.Timeline.At, Label: "kill -9 proxy2"})
		if _, err := s.chain.demo(ctx, "kill-proxy", "2"); err != nil {
			return err
		}
		if err := at(ctx, t0, float64(s.o.faultAt+15)); err != nil {
			return err
		}
		restart := since(t0)
		if _, err := s.chain.demo(ctx, "start-proxy", "2"); err != nil {
			return err
		}
		f.Marks = append(f.Marks, harness.Mark{At: restart, Label: "proxy2 started again"})
		f.Notes = append(f.Notes, fmt.Sprintf("proxy2 was ready (GET /readyz 200) %.1f s after its restart", since(t0)-restart))
		return nil
	})
	f.Run = r
	if rerr := s.chain.reload(ctx); err == nil {
		err = rerr
	}
	return f, err
}

// primaryKill: the group's primary killed with SIGKILL during
// oltp_read_write through the chain, while a writer records every
// acknowledged insert; afterwards every acknowledged insert must be on the
// new primary, and the killed member rejoins.
//
// check is the path HAProxy's health check GETs during the run: /healthz
// (the node runs) or /readyz (it has a usable writer, which no node has
// during the election).
func (s *study) primaryKill(ctx context.Context, name, check string) (Fault, error) {
	ms, err := s.chain.members(ctx)
	if err != nil {
		return Fault{}, err
	}
	if err := s.lbCheck(ctx, check); err != nil {
		return Fault{}, err
	}
	defer func() { _ = s.lbCheck(context.WithoutCancel(ctx), "/healthz") }()
	old := primary(ms)
	f := Fault{Name: name, Title: fmt.Sprintf("the group's primary (member%d) killed (SIGKILL) during read/write transactions and a write-log client; HAProxy checks GET %s", old, check)}
	w := &Writer{OldPrimary: old}
	f.Writer = w
	acksPath := filepath.Join(s.work, "acks-"+name+".txt")
	schema := "arch_" + name // a table of its own: ids start at 1 in every run
	if err := s.createSchema(ctx, primary(ms), schema); err != nil {
		return Fault{}, err
	}
	var wres writelog.Result
	st := harness.Step{Workload: "read_write (fault client)", Threads: 8, Rep: 1, Target: cfgChain}
	r, err := s.measure(ctx, st, s.loadWork(st, loadReadWrite, s.o.faultSec), func(ctx context.Context, t0 time.Time) error {
		wctx, cancel := context.WithDeadline(ctx, t0.Add(time.Duration(s.o.faultSec)*time.Second))
		defer cancel()
		done := make(chan error, 1)
		go func() {
			af, err := os.Create(acksPath)
			if err != nil {
				done <- err
				return
			}
			defer af.Close()
			wres, err = writelog.Write(wctx, "app:app@tcp("+s.chain.lbAddr()+")/"+schema, af, 5*time.Millisecond)
			done <- err
		}()
		if err := at(ctx, t0, float64(s.o.faultAt)); err != nil {
			return err
		}
		f.Timeline.At = since(t0)
		f.Marks = append(f.Marks, harness.Mark{At: f.Timeline.At, Label: fmt.Sprintf("kill -9 member%d (primary)", old)})
		if _, err := s.chain.run(ctx, s.chain.sandbox, "mgr-kill", strconv.Itoa(old)); err != nil {
			return err
		}
		return <-done
	})
	f.Run = r
	w.Acked, w.Failed, w.FirstErr = wres.Acked, wres.Failed, wres.FirstErr
	if err != nil {
		return f, err
	}
	if err := s.checkWrites(ctx, &f, schema, acksPath); err != nil {
		return f, err
	}
	t0 := time.Now()
	if _, err := s.chain.run(ctx, s.chain.sandbox, "mgr-start", strconv.Itoa(old)); err != nil {
		return f, err
	}
	w.RejoinSecs = time.Since(t0).Seconds()
	f.Notes = append(f.Notes, fmt.Sprintf("new primary member%d; %d acknowledged writes, %d lost; longest write stall %.2f s; member%d rejoined in %.0f s",
		w.NewPrimary, w.Acked, w.Lost, w.StallSeconds, old, w.RejoinSecs))
	return f, s.chain.waitApplied(ctx)
}

// createSchema creates a database on member n (the primary) and waits
// until the secondaries have it.
func (s *study) createSchema(ctx context.Context, n int, schema string) error {
	db, err := s.chain.memberDB(n, "")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+schema); err != nil {
		return err
	}
	return s.chain.waitApplied(ctx)
}

// lbCheck makes HAProxy check GET path on the nodes (a restart of HAProxy,
// between runs), unless it does already.
func (s *study) lbCheck(ctx context.Context, path string) error {
	if s.chain.state["LB_CHECK"] == path {
		return nil
	}
	if _, err := s.chain.demo(ctx, "lb-check", path); err != nil {
		return err
	}
	return s.chain.reload(ctx)
}

// checkWrites finds the new primary and checks every acknowledged insert on it.
func (s *study) checkWrites(ctx context.Context, f *Fault, schema, acksPath string) error {
	w := f.Writer
	var ms []Member
	for deadline := time.Now().Add(time.Minute); ; {
		var err error
		if ms, err = s.chain.members(ctx); err == nil && primary(ms) != 0 && primary(ms) != w.OldPrimary {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no new primary a minute after the kill: %+v", ms)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	w.NewPrimary = primary(ms)
	v, err := writelog.Verify(ctx, "app:app@tcp("+s.chain.memberAddr(w.NewPrimary)+")/"+schema, acksPath)
	if err != nil {
		return err
	}
	w.OnServer, w.Lost, w.LostIDs = v.OnServer, len(v.Lost), v.Lost[:min(len(v.Lost), 20)]
	acks, err := writelog.ReadAcks(acksPath)
	if err != nil {
		return err
	}
	gap, end := writelog.LongestGap(acks)
	w.StallSeconds = gap.Seconds()
	if !end.IsZero() {
		w.StallEndedAt = end.Sub(f.Run.Start).Seconds()
		f.Marks = append(f.Marks, harness.Mark{At: w.StallEndedAt, Label: "first acknowledged write after the stall"})
	}
	return nil
}
