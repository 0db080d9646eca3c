package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// machine describes this host for the report, and sets the /proc clock
// tick from getconf.
func (b *bench) machine() harness.Machine {
	harness.SetClockTicks()
	m := harness.Machine{Nproc: runtime.NumCPU(), Go: runtime.Version(),
		CPUModel: harness.FileField("/proc/cpuinfo", "model name"), Kernel: harness.FirstLine("/proc/sys/kernel/osrelease"),
		MariaDB: mariadbVersion(harness.CommandLine("/usr/sbin/mariadbd", "--version")), Sysbench: harness.CommandLine("sysbench", "--version")}
	m.MemTotalKB, _ = strconv.ParseInt(strings.Fields(harness.FileField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64)
	if s, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscan(string(s), &m.LoadBefore[0], &m.LoadBefore[1], &m.LoadBefore[2])
	}
	return m
}

// mariadbVersion shortens "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for ..."
// to "MariaDB 10.11.19-MariaDB-0+deb12u1".
func mariadbVersion(line string) string {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "Ver" {
			return "MariaDB " + f[i+1]
		}
	}
	return line
}
