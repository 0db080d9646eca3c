package writelog

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver of the DSNs
)

// CreateTable is the table the writer fills (in the DSN's database).
const CreateTable = "CREATE TABLE IF NOT EXISTS acks (id BIGINT PRIMARY KEY, at DATETIME(6) NOT NULL)"

// Ack is one acknowledged insert: its id and when the OK arrived.
type Ack struct {
	ID int64
	At time.Time
}

// Result sums up a write run.
type Result struct {
	Acked, Failed       int
	FirstErr, LastErr   string
	Started, Finished   time.Time
	FirstFail, LastFail time.Time // zero when nothing failed
}

// Write inserts ids 1, 2, ... through dsn until ctx ends, pausing between
// two inserts, and writes one line "id unix_nanos" per acknowledged insert
// to w. A failed insert (error or lost connection) is counted and not
// recorded: whether it committed is unknown, and the check only concerns
// acknowledged ids. It returns an error only when it cannot start.
func Write(ctx context.Context, dsn string, w io.Writer, pause time.Duration) (Result, error) {
	db, err := sql.Open("mysql", dsn+"?timeout=3s&readTimeout=10s&writeTimeout=10s")
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(time.Minute)
	if _, err := db.ExecContext(ctx, CreateTable); err != nil {
		return Result{}, fmt.Errorf("create table: %w", err)
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	res := Result{Started: time.Now()}
	for id := int64(1); ctx.Err() == nil; id++ {
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := db.ExecContext(qctx, "INSERT INTO acks VALUES (?, NOW(6))", id)
		cancel()
		now := time.Now()
		if err != nil {
			res.Failed++
			res.LastErr, res.LastFail = err.Error(), now
			if res.FirstErr == "" {
				res.FirstErr, res.FirstFail = res.LastErr, now
			}
		} else {
			res.Acked++
			fmt.Fprintf(bw, "%d %d\n", id, now.UnixNano())
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	res.Finished = time.Now()
	return res, bw.Flush()
}

// ParseAcks reads a log written by Write. A line may also hold the id
// alone (logs of older soak runs); its time is then zero.
func ParseAcks(r io.Reader) ([]Ack, error) {
	var acks []Ack
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || len(f) > 2 {
			return nil, fmt.Errorf("line %d: %q: want \"id [unix_nanos]\"", n, sc.Text())
		}
		a := Ack{ID: id}
		if len(f) == 2 {
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: %w", n, sc.Text(), err)
			}
			a.At = time.Unix(0, ns)
		}
		acks = append(acks, a)
	}
	return acks, sc.Err()
}

// ReadAcks is ParseAcks on a file.
func ReadAcks(path string) ([]Ack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseAcks(f)
}

// Missing returns the acknowledged ids that are not in present, in log order.
func Missing(acks []Ack, present map[int64]bool) []int64 {
	var lost []int64
	for _, a := range acks {
		if !present[a.ID] {
			lost = append(lost, a.ID)
		}
	}
	return lost
}

// LongestGap is the longest time between two consecutive acknowledgements
// (the write stall), and the time of the acknowledgement that ended it.
// Acks without a time are skipped; fewer than two give zero.
func LongestGap(acks []Ack) (gap time.Duration, endedAt time.Time) {
	var prev time.Time
	for _, a := range acks {
		if a.At.IsZero() {
			continue
		}
		if !prev.IsZero() && a.At.Sub(prev) > gap {
			gap, endedAt = a.At.Sub(prev), a.At
		}
		prev = a.At
	}
	return gap, endedAt
}

// Present reads the ids in the acks table of the server at dsn.
func Present(ctx context.Context, dsn string) (map[int64]bool, error) {
	db, err := sql.Open("mysql", dsn+"?timeout=5s")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT id FROM acks")
	if err != nil {
		return nil, err
	}
	present := make(map[int64]bool)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		present[id] = true
	}
	return present, errors.Join(rows.Err(), rows.Close())
}

// Verdict is the outcome of Verify.
type Verdict struct {
	Acked, OnServer int
	Lost            []int64 // acknowledged ids missing on the server
}

// Verify checks every acknowledged id of the log at path on the server at dsn.
func Verify(ctx context.Context, dsn, path string) (Verdict, error) {
	acks, err := ReadAcks(path)
	if err != nil {
		return Verdict{}, err
	}
	present, err := Present(ctx, dsn)
	if err != nil {
		return Verdict{}, err
	}
	return Verdict{Acked: len(acks), OnServer: len(present), Lost: Missing(acks, present)}, nil
}
