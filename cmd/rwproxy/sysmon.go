package main

import (
	"os"
	"strings"
	"syscall"
)

// Go's runtime has a monitor thread (sysmon) that, whenever every thread
// running Go code is idle, goes into a deep sleep from which the next
// system call of any goroutine must wake it (a futex wake-up, then the
// monitor's own nanosleep and futex wait: two context switches). A proxy
// goes idle between statements thousands of times a second, so it paid
// that on nearly every statement: on the sysbench sandbox 1.8 futex and 1.2
// nanosleep calls per point select at one client thread, and 22-31% of the
// proxy's CPU per statement at 1 and 8 client threads (docs/benchmarks.md,
// "The runtime's monitor thread"). The runtime keeps the monitor out of that
// sleep only while GODEBUG's schedtrace is set (it then wakes on its own,
// backing off to every 10 ms when idle: about 100 wake-ups a second, a
// fraction of a percent of a CPU), and GODEBUG is read once, at start: so
// rwproxy starts itself again with schedtrace set to its longest period
// (2^31-1 ms, 24.8 days; the scheduler line it prints to stderr that
// often, first at start on a host up longer than that, is the only other
// effect, with a dump of the scheduler's state before a crash's trace).
// There is no API for it; //go:debug does not accept schedtrace.
//
// An operator's own GODEBUG schedtrace, schedtrace=0 included, is kept:
// GODEBUG=schedtrace=0 runs with the runtime's default.
const sysmonAwake = "schedtrace=2147483647"

// keepSysmonAwake re-executes the running binary (same pid, arguments and
// descriptors) with sysmonAwake added to GODEBUG, unless GODEBUG already
// names schedtrace; it returns only when it does not (or the exec fails).
func keepSysmonAwake() {
	env, ok := sysmonEnv(os.Environ())
	if !ok {
		return
	}
	// /proc/self/exe is the running binary even if its file was replaced
	// or removed since (an upgrade installs the new one at the same path).
	_ = syscall.Exec("/proc/self/exe", os.Args, env) //nolint:gosec // G702: this very binary, its own arguments and environment
}

// sysmonEnv returns env with sysmonAwake added to GODEBUG, and false when
// GODEBUG already sets schedtrace.
func sysmonEnv(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	gd := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			gd = v
			continue
		}
		out = append(out, kv)
	}
	for _, s := range strings.Split(gd, ",") {
		if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
			return env, false
		}
	}
	if gd != "" {
		gd += ","
	}
	return append(out, "GODEBUG="+gd+sysmonAwake), true
}
