//go:build ignore

// soakwriter is the write-log client of scripts/soak: it inserts unique
// ids through the proxy, one autocommit INSERT at a time, and records each
// id the proxy acknowledged (OK received) in a file, one "id unix_nanos"
// line each. With -verify it reads the ids present on a server and reports
// the acknowledged ids that are missing there: writes the proxy
// acknowledged and lost. The logic is internal/writelog's, shared with the
// architecture study (sysbench/architecture).
//
//	go run scripts/soakwriter.go -dsn 'app:app@tcp(127.0.0.1:6033)/soak' -acks acks.txt -for 10m
//	go run scripts/soakwriter.go -verify -dsn 'app:app@tcp(127.0.0.1:3317)/soak' -acks acks.txt
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rwproxy/rwproxy/internal/writelog"
)

func main() {
	dsn := flag.String("dsn", "", "go-sql-driver DSN (the proxy to write through, or the server to verify)")
	acks := flag.String("acks", "acks.txt", "file of acknowledged ids, one per line")
	dur := flag.Duration("for", time.Minute, "how long to write")
	pause := flag.Duration("pause", 5*time.Millisecond, "pause between two inserts")
	verify := flag.Bool("verify", false, "check that every acknowledged id is on the server")
	flag.Parse()
	var err error
	if *verify {
		err = runVerify(*dsn, *acks)
	} else {
		err = runWrite(*dsn, *acks, *dur, *pause)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakwriter:", err)
		os.Exit(1)
	}
}

// runWrite writes until dur has passed or SIGTERM/SIGINT.
func runWrite(dsn, path string, dur, pause time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	r, err := writelog.Write(ctx, dsn, f, pause)
	if err != nil {
		return err
	}
	fmt.Printf("writer: %d inserts acknowledged, %d failed (first error: %q, last: %q)\n", r.Acked, r.Failed, r.FirstErr, r.LastErr)
	return nil
}

// runVerify reports acknowledged ids missing on the server at dsn.
func runVerify(dsn, path string) error {
	v, err := writelog.Verify(context.Background(), dsn, path)
	if err != nil {
		return err
	}
	examples := v.Lost[:min(len(v.Lost), 10)]
	fmt.Printf("verify: %d acknowledged, %d rows on the server, %d acknowledged writes lost %v\n", v.Acked, v.OnServer, len(v.Lost), examples)
	if len(v.Lost) > 0 {
		return fmt.Errorf("%d acknowledged writes lost", len(v.Lost))
	}
	return nil
}
