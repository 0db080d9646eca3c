// Package balance chooses the server of each statement: per hostgroup it
// runs the configured algorithm (router.SWRR, router.LeastOutstanding,
// router.Adaptive) over the usable servers of the current topology
// snapshot, keeps a session's server under session affinity, names a
// shunned server as the last resort for a hostgroup with none usable, and
// learns the servers' response times for the adaptive algorithm.
//
// The session consumes it through its own small interface
// (session.Picker); internal/app builds the Picker and feeds it each new
// snapshot (Update). Admin and /metrics read Stats.
//
// Concurrency: Pick, Keep, LastResort, Observe and Stats are safe for
// concurrent use and take no lock on the statement path; Update is
// serialised by the Picker itself.
package balance
