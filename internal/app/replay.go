package app

import (
	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/metrics"
	"github.com/rwproxy/rwproxy/session"
)

// replayCounters is the transaction replay counters for /metrics and
// /stats.
func replayCounters(r *session.ReplayStats) metrics.Replay {
	out := metrics.Replay{Started: r.Started.Load(), Succeeded: r.Succeeded.Load(),
		Mismatches: r.Mismatches.Load(), TooBig: r.TooBig.Load(), IdempotentRetries: r.IdempotentRetries.Load()}
	for i, name := range session.ReplayFailureNames {
		out.Failed = append(out.Failed, metrics.Count{Name: name, Value: r.Failed[i].Load()})
	}
	out.CommitChecks = []metrics.Count{{Name: "committed", Value: r.CommitsFound.Load()},
		{Name: "replayed", Value: r.CommitsReplayed.Load()}, {Name: "marker_error", Value: r.MarkerErrors.Load()}}
	return out
}

// replayGlobals is the transaction replay rows of stats_mysql_global.
func replayGlobals(c metrics.Replay) []admin.Counter {
	out := []admin.Counter{
		{Name: "Transaction_Replays", Value: int64(c.Started)},
		{Name: "Transaction_Replay_Successes", Value: int64(c.Succeeded)},
		{Name: "Transaction_Replay_Checksum_Mismatches", Value: int64(c.Mismatches)},
		{Name: "Transaction_Replay_Too_Big", Value: int64(c.TooBig)},
		{Name: "Idempotent_Retries", Value: int64(c.IdempotentRetries)},
	}
	for _, f := range c.Failed {
		out = append(out, admin.Counter{Name: "Transaction_Replay_Failures_" + f.Name, Value: int64(f.Value)})
	}
	for _, f := range c.CommitChecks {
		out = append(out, admin.Counter{Name: "Transaction_Replay_Commit_Check_" + f.Name, Value: int64(f.Value)})
	}
	return out
}
