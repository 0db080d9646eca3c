package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of the CPU times in /proc (100 on every
// Linux build that matters; cmd/bench sets it from `getconf CLK_TCK`).
var ClockTicks = 100.0

// Proc reads process and machine accounting from a /proc tree (Root is
// "/proc" in real use and a fixture directory in tests).
type Proc struct{ Root string }

// ParseStatTicks returns utime+stime (clock ticks, all threads of the
// process) from the text of /proc/<pid>/stat. The command name in field 2
// may hold spaces and parentheses, so fields are counted from the last ')'.
func ParseStatTicks(stat string) (int64, error) {
	user, sys, err := ParseStatUserSys(stat)
	return user + sys, err
}

// ParseStatusKB returns a "Key:   N kB" line of /proc/<pid>/status in kB
// (VmHWM is the peak resident set size, VmRSS the current one).
func ParseStatusKB(status, key string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("status: no %s line", key)
}

// ParseSystemCPU returns busy and total ticks of all CPUs from the "cpu "
// line of /proc/stat; idle and iowait count as not busy, and guest time
// is already inside user and nice, so it is not added twice.
func ParseSystemCPU(stat string) (busy, total int64, err error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line is %.40q", line)
	}
	for i, s := range f[1:] {
		if i >= 8 { // guest, guest_nice
			break
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// ParseLoadAvg returns the 1-minute load average from /proc/loadavg.
func ParseLoadAvg(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("loadavg: empty")
	}
	return strconv.ParseFloat(f[0], 64)
}

func (p Proc) read(parts ...string) (string, error) {
	b, err := os.ReadFile(filepath.Join(append([]string{p.Root}, parts...)...))
	return string(b), err
}

// CPUTicks is utime+stime of pid.
func (p Proc) CPUTicks(pid int) (int64, error) {
	s, err := p.read(strconv.Itoa(pid), "stat")
	if err != nil {
		return 0, err
	}
	return ParseStatTicks(s)
}

// PeakRSSKB is pid's VmHWM in kB.
func (p Proc) PeakRSSKB(pid int) (int64, error) {
	s, err := p.read(strconv.Itoa(pid), "status")
	if err != nil {
		return 0, err
	}
	return ParseStatusKB(s, "VmHWM")
}

// RSSKB is pid's current resident set size (VmRSS) in kB.
func (p Proc) RSSKB(pid int) (int64, error) {
	s, err := p.read(strconv.Itoa(pid), "status")
	if err != nil {
		return 0, err
	}
	return ParseStatusKB(s, "VmRSS")
}

// ResetPeakRSS sets pid's VmHWM back to its current RSS (writing 5 to
// clear_refs, Linux >= 4.0), so the next PeakRSSKB covers one run only.
func (p Proc) ResetPeakRSS(pid int) error {
	return os.WriteFile(filepath.Join(p.Root, strconv.Itoa(pid), "clear_refs"), []byte("5\n"), 0o644)
}

// SystemCPU is the machine's busy and total CPU ticks.
func (p Proc) SystemCPU() (busy, total int64, err error) {
	s, err := p.read("stat")
	if err != nil {
		return 0, 0, err
	}
	return ParseSystemCPU(s)
}

// LoadAvg is the 1-minute load average.
func (p Proc) LoadAvg() (float64, error) {
	s, err := p.read("loadavg")
	if err != nil {
		return 0, err
	}
	return ParseLoadAvg(s)
}

// TicksToSeconds converts clock ticks to seconds.
func TicksToSeconds(t int64) float64 { return float64(t) / ClockTicks }

// MicrosPerQuery is CPU time per query in microseconds; 0 without queries.
func MicrosPerQuery(cpuSeconds float64, queries int64) float64 {
	if queries <= 0 {
		return 0
	}
	return cpuSeconds * 1e6 / float64(queries)
}
