package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Counters are a process's cumulative CPU and scheduling counters at one
// moment: utime and stime (clock ticks, whole process, from
// /proc/<pid>/stat) and the voluntary and involuntary context switches
// summed over its threads (/proc/<pid>/task/*/status: the process's own
// status file counts only its main thread). Threads that exited between two
// samples take their switches with them; rwproxy's and ProxySQL's threads
// live as long as the process.
type Counters struct {
	UserTicks, SysTicks int64
	VolCS, InvolCS      int64
}

// Sub is c - before.
func (c Counters) Sub(before Counters) Counters {
	return Counters{c.UserTicks - before.UserTicks, c.SysTicks - before.SysTicks,
		c.VolCS - before.VolCS, c.InvolCS - before.InvolCS}
}

// ParseStatUserSys returns utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name in field 2 may hold spaces and
// parentheses, so fields are counted from the last ')'; f[0] is field 3.
func ParseStatUserSys(stat string) (user, sys int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat: no ')' in %.60q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: %d fields after the name, want >= 13", len(f))
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return user, sys, nil
}

// ParseStatusInt returns the number of a "Key:\tN" line of a status file.
func ParseStatusInt(status, key string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("status: no %s line", key)
}

// Counters reads pid's counters now.
func (p Proc) Counters(pid int) (Counters, error) {
	var c Counters
	s, err := p.read(strconv.Itoa(pid), "stat")
	if err != nil {
		return c, err
	}
	if c.UserTicks, c.SysTicks, err = ParseStatUserSys(s); err != nil {
		return c, err
	}
	tasks, err := os.ReadDir(filepath.Join(p.Root, strconv.Itoa(pid), "task"))
	if err != nil {
		return c, err
	}
	for _, t := range tasks {
		st, err := p.read(strconv.Itoa(pid), "task", t.Name(), "status")
		if err != nil {
			continue // the thread exited meanwhile
		}
		v, err1 := ParseStatusInt(st, "voluntary_ctxt_switches")
		n, err2 := ParseStatusInt(st, "nonvoluntary_ctxt_switches")
		if err1 == nil && err2 == nil {
			c.VolCS += v
			c.InvolCS += n
		}
	}
	return c, nil
}

// Threads is pid's thread count.
func (p Proc) Threads(pid int) (int64, error) {
	s, err := p.read(strconv.Itoa(pid), "status")
	if err != nil {
		return 0, err
	}
	return ParseStatusInt(s, "Threads")
}

// PerStatement is a proxy process's cost per statement over one run:
// user and system CPU in µs and context switches (CountersPerQuery).
type PerStatement struct {
	UserMicros    float64 `json:"user_us_per_query"`
	SysMicros     float64 `json:"sys_us_per_query"`
	VolCSPerQuery float64 `json:"voluntary_cs_per_query"`
	InvCSPerQuery float64 `json:"involuntary_cs_per_query"`
}

// CountersPerQuery divides a counters delta by the run's queries.
func CountersPerQuery(d Counters, queries int64) PerStatement {
	if queries <= 0 {
		return PerStatement{}
	}
	q := float64(queries)
	return PerStatement{UserMicros: MicrosPerQuery(TicksToSeconds(d.UserTicks), queries),
		SysMicros:     MicrosPerQuery(TicksToSeconds(d.SysTicks), queries),
		VolCSPerQuery: float64(d.VolCS) / q, InvCSPerQuery: float64(d.InvolCS) / q}
}

// Wire is what the sandbox's MariaDB servers received and sent over one
// run (SHOW GLOBAL STATUS Bytes_received / Bytes_sent summed over the
// three servers), per query of the run: the backend side of a proxy, the
// client side of the direct target. It includes the proxies' monitor
// checks and the harness's own status query (a few hundred bytes per
// second against thousands of queries per second).
type Wire struct {
	ToServersPerQuery   float64 `json:"bytes_to_servers_per_query"`
	FromServersPerQuery float64 `json:"bytes_from_servers_per_query"`
}
