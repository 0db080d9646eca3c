// Command bigstmt sends one large statement through a MySQL endpoint (the
// proxy or a server directly) and reports how long it took and, when the
// pid of the process behind the endpoint is given, that process's peak RSS
// (VmHWM) before and after. docs/benchmarks.md, "Huge statements", has the
// figures and the command line.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

func main() {
	dsn := flag.String("dsn", "app:app@tcp(127.0.0.1:6033)/?maxAllowedPacket=0", "go-sql-driver DSN of the endpoint")
	size := flag.Int("size", 64<<20, "statement size in bytes")
	kind := flag.String("kind", "insert", "insert (an extended INSERT into -table) or select (an IN list on -table)")
	table := flag.String("table", "big.t", "table (id INT PRIMARY KEY, v VARCHAR(64)); the INSERT replaces its rows")
	pid := flag.Int("pid", 0, "pid whose VmHWM (peak RSS) to report; 0: none")
	flag.Parse()
	if err := run(*dsn, *size, *kind, *table, *pid); err != nil {
		fmt.Fprintln(os.Stderr, "bigstmt:", err)
		os.Exit(1)
	}
}

func run(dsn string, size int, kind, table string, pid int) error {
	q, err := statement(kind, table, size)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		return err
	}
	before := hwm(pid)
	start := time.Now()
	if kind == "insert" {
		_, err = db.Exec(q)
	} else {
		var rows *sql.Rows
		if rows, err = db.Query(q); err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
	}
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s of %d bytes: %w", kind, len(q), err)
	}
	fmt.Printf("%s of %.1f MiB: %s", kind, float64(len(q))/(1<<20), took.Round(time.Millisecond))
	if pid > 0 {
		fmt.Printf(", peak RSS of pid %d: %s before, %s after", pid, before, hwm(pid))
	}
	fmt.Println()
	return nil
}

// statement builds an extended INSERT (rows of 32 characters) of at most
// size bytes, or a SELECT with an IN list of at least size bytes.
func statement(kind, table string, size int) (string, error) {
	var b strings.Builder
	b.Grow(size + 64)
	switch kind {
	case "insert":
		b.WriteString("REPLACE INTO " + table + " (id, v) VALUES ")
		for i := 0; ; i++ {
			row := "(" + strconv.Itoa(i) + ",'abcdefghijklmnopqrstuvwxyz012345')"
			if b.Len()+1+len(row) > size {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
		}
	case "select":
		b.WriteString("SELECT COUNT(*) FROM " + table + " WHERE id IN (")
		for i := 0; b.Len() < size; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(i))
		}
		b.WriteString(")")
	default:
		return "", fmt.Errorf("-kind %q: want insert or select", kind)
	}
	return b.String(), nil
}

// hwm returns the VmHWM line of /proc/pid/status, "" for pid 0.
func hwm(pid int) string {
	if pid <= 0 {
		return ""
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return err.Error()
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}
