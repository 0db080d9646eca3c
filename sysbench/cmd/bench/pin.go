package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinReplicas gives each replica's mariadbd a CPU of its own (replica i on
// CPU i-1 modulo the CPU count), every thread it has now; threads it starts
// later inherit it from the thread that starts them. It models replicas on
// machines of their own, whose caches no other server shares
// (docs/benchmarks.md); the primary, sysbench and the proxies stay free.
func (b *bench) pinReplicas(context.Context) error {
	pids := b.mariadbPIDs()
	if len(pids) < 3 {
		return fmt.Errorf("found %d mariadbd pid files, want 3", len(pids))
	}
	for i, pid := range pids[1:] {
		cpu := i % runtime.NumCPU()
		if err := pinProcess(pid, cpu); err != nil {
			return fmt.Errorf("pin replica %d (pid %d) to CPU %d: %w", i+1, pid, cpu, err)
		}
		b.say("replica %d (pid %d) pinned to CPU %d", i+1, pid, cpu)
	}
	return nil
}

// pinProcess sets the CPU affinity of every thread of pid to cpu.
func pinProcess(pid, cpu int) error {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}
