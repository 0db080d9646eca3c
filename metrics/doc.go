// Package metrics exposes rwproxy's counters to Prometheus.
//
// Two kinds of collector:
//
//   - Collector reads, at scrape time, the counters the proxy already keeps
//     (pool, session, router and topology atomics) through a Source. It adds
//     nothing to the query path and counts nothing twice: each scrape copies
//     the live values into one Sample.
//   - Recorder is the one per-query hook: the session calls ObserveQuery once
//     per statement a backend answered. It keeps latency histograms and error
//     counts by hostgroup and backend (lock-free: a map lookup in a
//     copy-on-write map and two atomic adds) and writes the slow query log.
//
// The package imports neither session nor the App: internal/app adapts the
// running proxy to Source, and the session reaches the Recorder through an
// interface of its own whose method has only basic types.
//
// Concurrency: every exported method is safe for concurrent use. Samples
// are plain values owned by the caller.
package metrics
