// Package monitor checks every configured backend over its own monitor
// connection (ping, read_only, replication lag, MySQL Group Replication
// role) and publishes where each server belongs, and in which state, as an
// immutable *topology.Snapshot.
//
// The package is split into pure decision logic and I/O:
//   - plan.go turns a *config.Config into per-server check plans and the
//     hostgroups each server may be placed in;
//   - health.go holds one server's observed health and the hysteresis that
//     turns check results into shun/unshun decisions (counts, no clocks);
//   - place.go builds a snapshot from the plan, the health of every server
//     and the previous snapshot (writer detection, the two-writers rule,
//     group replication placement, weight decay);
//   - probe.go runs the monitoring queries on one connection and parses
//     their results; checker.go schedules them, one goroutine per server;
//   - monitor.go owns the goroutines, the health map and the snapshot.
//
// Concurrency contract: every exported method of *Monitor is safe for
// concurrent use. Snapshot is a lock-free atomic load. Check results are
// applied under one mutex, and a new snapshot is published (atomically
// swapped, then sent to subscribers latest-wins) only when it differs from
// the current one. Each checker goroutine owns its connection; Close
// cancels them all and waits.
package monitor
