package web

import (
	"time"

	"github.com/rwproxy/rwproxy/metrics"
)

// Source is the running proxy as the endpoints see it.
type Source interface {
	metrics.Source
	// TopDigests returns at most n statement digests, the most executed
	// first.
	TopDigests(n int) []Digest
}

// Digest is one row of the digest statistics (stats_mysql_query_digest).
type Digest struct {
	Hostgroup int       `json:"hostgroup"`
	Schema    string    `json:"schema"`
	User      string    `json:"user"`
	Digest    string    `json:"digest"`
	Count     uint64    `json:"count"`
	SumTimeUs uint64    `json:"sum_time_us"`
	MinTimeUs uint64    `json:"min_time_us"`
	MaxTimeUs uint64    `json:"max_time_us"`
	LastSeen  time.Time `json:"last_seen"`
}

// topDigests is how many digests /api/status lists.
const topDigests = 10

// Status is the /api/status document: a metrics.Sample plus what only the
// dashboard shows.
type Status struct {
	metrics.Sample
	Ready       bool     `json:"ready"`
	ReadyReason string   `json:"ready_reason,omitempty"`
	Digests     []Digest `json:"digests"`
	// StartTime is when the listener was created (the dashboard shows the
	// uptime).
	StartTime time.Time `json:"start_time"`
	// History is the per-backend query counters sampled every second (or
	// Options.HistoryInterval) over the last two minutes, oldest first.
	History []Point `json:"history"`
}

// point reads the per-backend query counters for the history.
func (s *Server) point() Point {
	smp := s.src.Sample()
	p := Point{Time: smp.Time, Queries: make(map[string]uint64, len(smp.Servers))}
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	for _, sv := range smp.Servers {
		p.Queries[sv.Addr] = sv.Queries
	}
	return p
}

func (s *Server) status() Status {
	st := Status{Sample: s.src.Sample(), Digests: s.src.TopDigests(topDigests), StartTime: s.start, History: s.hist.points()}
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	st.Ready, st.ReadyReason = st.Sample.Ready()
	if st.Digests == nil {
		st.Digests = []Digest{}
	}
	return st
}
