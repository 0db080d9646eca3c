package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// machine describes this host for the report, and sets the /proc clock
// tick from getconf.
func (b *bench) machine() harness.Machine {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			harness.ClockTicks = float64(n)
		}
	}
	m := harness.Machine{Nproc: runtime.NumCPU(), Go: runtime.Version(),
		CPUModel: fileField("/proc/cpuinfo", "model name"), Kernel: firstLine("/proc/sys/kernel/osrelease"),
		MariaDB: mariadbVersion(commandLine("/usr/sbin/mariadbd", "--version")), Sysbench: commandLine("sysbench", "--version")}
	m.MemTotalKB, _ = strconv.ParseInt(strings.Fields(fileField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64)
	if s, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscan(string(s), &m.LoadBefore[0], &m.LoadBefore[1], &m.LoadBefore[2])
	}
	return m
}

// fileField is the value of the first "key : value" line of a /proc file.
func fileField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

func commandLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// repoRoot walks up from the working directory to the rwproxy go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/rwproxy/rwproxy\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the rwproxy repository (no go.mod found)")
		}
		dir = parent
	}
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
