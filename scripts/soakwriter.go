//go:build ignore

// soakwriter is the write-log client of scripts/soak: it inserts unique
// ids through the proxy, one autocommit INSERT at a time, and records each
// id the proxy acknowledged (OK received) in a file. With -verify it
// reads the ids present on a server and reports the acknowledged ids
// that are missing there: writes the proxy acknowledged and lost.
//
//	go run scripts/soakwriter.go -dsn 'app:app@tcp(127.0.0.1:6033)/soak' -acks acks.txt -for 10m
//	go run scripts/soakwriter.go -verify -dsn 'app:app@tcp(127.0.0.1:3317)/soak' -acks acks.txt
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
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

// runWrite inserts ids 1, 2, ... until dur has passed or SIGTERM/SIGINT.
// A failed insert (error or lost connection) is counted and not recorded:
// whether it committed is unknown, and the check only concerns
// acknowledged ids.
func runWrite(dsn, path string, dur, pause time.Duration) error {
	db, err := sql.Open("mysql", dsn+"?timeout=3s&readTimeout=10s&writeTimeout=10s")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(time.Minute)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS acks (id BIGINT PRIMARY KEY, at DATETIME(6) NOT NULL)"); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	defer w.Flush()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var acked, failed int
	var firstErr, lastErr string
	for id := int64(1); ctx.Err() == nil; id++ {
		qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := db.ExecContext(qctx, "INSERT INTO acks VALUES (?, NOW(6))", id)
		qcancel()
		if err != nil {
			failed++
			lastErr = err.Error()
			if firstErr == "" {
				firstErr = lastErr
			}
		} else {
			acked++
			fmt.Fprintln(w, id)
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	fmt.Printf("writer: %d inserts acknowledged, %d failed (first error: %q, last: %q)\n", acked, failed, firstErr, lastErr)
	return nil
}

// runVerify reports acknowledged ids missing on the server at dsn.
func runVerify(dsn, path string) error {
	db, err := sql.Open("mysql", dsn+"?timeout=5s")
	if err != nil {
		return err
	}
	defer db.Close()
	present := make(map[int64]bool)
	rows, err := db.Query("SELECT id FROM acks")
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		present[id] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var acked, lost int
	var examples []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		acked++
		if !present[id] {
			lost++
			if len(examples) < 10 {
				examples = append(examples, id)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Printf("verify: %d acknowledged, %d rows on the server, %d acknowledged writes lost %v\n", acked, len(present), lost, examples)
	if lost > 0 {
		return fmt.Errorf("%d acknowledged writes lost", lost)
	}
	return nil
}
